/**
 * The SNS notifier through the real @aws-sdk/client-sns against an in-repo SNS emulator that
 * checks SigV4: SMS to a phone number, a topic (FIFO deduplication), refused signatures, and
 * the endpoint taken from AWS_ENDPOINT_URL_SNS as the SDK resolves it.
 */
import t, { type Test } from 'tap';
import { snsNotifier } from '../../src/notify/sns.js';
import { startSnsEmulator } from '../emulators/sns.js';

const region = 'us-east-1';
const credentials = {
  accessKeyId: 'AKIDTELEFHIRSNS00001',
  secretAccessKey: 'telefhir/test/sns/secret/0123456789abcdef',
};
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

async function emulator(t: Test) {
  const sns = await startSnsEmulator({ region, credentials });
  t.teardown(() => sns.stop());
  return sns;
}

const note = (extra: Record<string, string> = {}) => ({
  key: 'reminder-1',
  channel: 'sms' as const,
  address: '+15555550101',
  recipient: 'Patient/p1',
  text: 'Reminder: your telehealth visit is on Thursday http://x/visit/a1',
  ...extra,
});

t.test('an SMS goes to the phone number, signed, as a transactional message', async (t) => {
  const sns = await emulator(t);
  const notifier = snsNotifier({ region, credentials, endpoint: sns.endpoint });
  t.teardown(() => notifier.close());
  t.same([...notifier.channels], ['sms'], 'without a topic, SNS reaches phones only');
  const id = await notifier.send(note());
  t.equal(sns.messages.length, 1);
  t.match(sns.messages[0], {
    messageId: id,
    phoneNumber: '+15555550101',
    message: note().text,
    attributes: { 'AWS.SNS.SMS.SMSType': 'Transactional' },
  });
  t.same(sns.rejections, []);
});

t.test('a request signed with the wrong secret is refused and nothing is sent', async (t) => {
  const sns = await emulator(t);
  const notifier = snsNotifier({
    region,
    credentials: { ...credentials, secretAccessKey: 'not-the-secret-0123456789abcdefgh' },
    endpoint: sns.endpoint,
  });
  t.teardown(() => notifier.close());
  await t.rejects(notifier.send(note()), { name: 'NotifyError' });
  t.equal(sns.messages.length, 0);
  t.match(sns.rejections[0], /signature we calculated does not match/);
});

t.test('a region other than the signing scope the emulator expects is refused', async (t) => {
  const sns = await emulator(t);
  const notifier = snsNotifier({ region: 'eu-west-1', credentials, endpoint: sns.endpoint });
  t.teardown(() => notifier.close());
  await t.rejects(notifier.send(note()));
  t.equal(sns.messages.length, 0);
  t.match(sns.rejections[0], /region/);
});

t.test('email is not a channel without a topic: refused before anything is sent', async (t) => {
  const sns = await emulator(t);
  const notifier = snsNotifier({ region, credentials, endpoint: sns.endpoint });
  t.teardown(() => notifier.close());
  await t.rejects(notifier.send(note({ channel: 'email', address: 'p@example.org' })), {
    code: 'UnsupportedChannel',
  });
  t.equal(sns.calls, 0);
});

t.test('attack: a topic message carries only channel and address, no patient', async (t) => {
  const sns = await emulator(t);
  const topicArn = 'arn:aws:sns:us-east-1:111122223333:reminders';
  const notifier = snsNotifier({ region, credentials, endpoint: sns.endpoint, topicArn });
  t.teardown(() => notifier.close());
  await notifier.send(note({ channel: 'email', address: 'p@example.org' }));
  t.equal(sns.messages.length, 1);
  const [sent] = sns.messages;
  t.same(
    sent!.attributes,
    { channel: 'email', address: 'p@example.org' },
    'exactly what delivery needs: no recipient reference, no name, no MRN',
  );
  t.notMatch(JSON.stringify(sent), /Patient\/|p1\b/, 'the patient is named nowhere');
});

t.test('a FIFO topic gets channel and address as attributes and drops a resend', async (t) => {
  const sns = await emulator(t);
  const topicArn = 'arn:aws:sns:us-east-1:111122223333:reminders.fifo';
  const notifier = snsNotifier({ region, credentials, endpoint: sns.endpoint, topicArn });
  t.teardown(() => notifier.close());
  t.same([...notifier.channels].sort(), ['email', 'sms']);
  const first = await notifier.send(note({ channel: 'email', address: 'p@example.org' }));
  const again = await notifier.send(note({ channel: 'email', address: 'p@example.org' }));
  t.equal(again, first, 'the same key is the same message');
  t.equal(sns.calls, 2);
  t.equal(sns.messages.length, 1, 'delivered once');
  t.match(sns.messages[0], {
    topicArn,
  });
  t.same(sns.messages[0]!.attributes, { channel: 'email', address: 'p@example.org' });
  t.match(sns.messages[0]!.deduplicationId, /^[0-9a-f]{64}$/);
  await notifier.send(note({ key: 'reminder-2' }));
  t.equal(sns.messages.length, 2, 'another key is another message');
});

t.test('a server error is reported by name, never with what was sent', async (t) => {
  const sns = await emulator(t);
  const notifier = snsNotifier({ region, credentials, endpoint: sns.endpoint });
  t.teardown(() => notifier.close());
  sns.failNext(2, 'internal'); // the client retries once
  const error = await notifier.send(note()).then(
    () => undefined,
    (e: unknown) => e as Error,
  );
  t.ok(error);
  t.notMatch(error!.message, /15555550101|Reminder/);
  t.equal(sns.messages.length, 0);
});

t.test('AWS_ENDPOINT_URL_SNS and the standard credential variables are honoured', async (t) => {
  const sns = await emulator(t);
  const saved = { ...process.env };
  t.teardown(() => {
    process.env = saved;
  });
  process.env.AWS_ENDPOINT_URL_SNS = sns.endpoint;
  process.env.AWS_ACCESS_KEY_ID = credentials.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = credentials.secretAccessKey;
  delete process.env.AWS_SESSION_TOKEN;
  delete process.env.AWS_PROFILE;
  const notifier = snsNotifier({ region });
  t.teardown(() => notifier.close());
  await notifier.send(note());
  t.equal(sns.messages.length, 1, 'the SDK found the emulator from the environment');
});
