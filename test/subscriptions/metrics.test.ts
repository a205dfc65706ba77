/**
 * Delivery counts per Subscription in the logs (delivered, retried, failed, withheld), with
 * ids and counts only: no resource, endpoint answer or search value. And the
 * CapabilityStatement lists Subscription as served.
 */
import t from 'tap';
import { fhir, logCapture, startServer, testConfig } from '../helpers.js';
import { patient } from '../fixtures.js';
import { startReceiver } from './receiver.js';
import {
  auth,
  observation,
  patientToken,
  subscription,
  subscriptionSettings,
  TestClock,
  until,
} from './world.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

t.test('delivery counts are logged per Subscription, without PHI', async (t) => {
  const log = logCapture();
  const clock = new TestClock();
  const config = await testConfig(t, {
    logLevel: 'info',
    subscriptions: subscriptionSettings(),
  });
  const { base } = await startServer(t, config, { now: clock.now, logStream: log.stream });
  for (const id of ['pa', 'pb']) await fhir(base, 'PUT', `Patient/${id}`, { ...patient(), id });
  const receiver = await startReceiver(t);
  const created = await fhir(
    base,
    'POST',
    'Subscription',
    subscription(receiver.url, 'Observation?code=http://loinc.org|8867-4'),
    auth(patientToken('pa')),
  );
  t.equal(created.status, 201, created.text);
  await receiver.waitFor(1);
  receiver.answers.push(503);
  const obs = await fhir(
    base,
    'POST',
    'Observation',
    observation('pa', '8867-4', { note: [{ text: 'SECRET-NOTE' }] }),
  );
  await receiver.waitFor(2); // the first attempt fails; the retry waits for the clock
  // Before the retry, the Observation moves to the other patient: at delivery the owner's
  // grant no longer reads it, so it is withheld (the grant is checked when it is sent).
  const moved = await fhir(base, 'PUT', `Observation/${obs.body.id}`, {
    ...obs.body,
    subject: { reference: 'Patient/pb' },
  });
  t.equal(moved.status, 200, moved.text);
  clock.advance(10_000);
  const lines = () =>
    log
      .text()
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Json)
      .filter((line) => line.msg === 'subscription delivery');
  t.ok(
    await until(() => {
      const sum = (k: string) => lines().reduce((n, l) => n + (l[k] ?? 0), 0);
      return sum('delivered') >= 1 && sum('retried') >= 1 && sum('withheld') >= 1;
    }),
    'delivered (the handshake), retried once, then withheld',
  );
  t.equal(receiver.received.length, 2, 'the withheld notification is not sent');
  for (const line of lines()) t.equal(line.subscription, created.body.id);
  const text = log.text();
  t.notOk(text.includes('SECRET-NOTE'), 'no resource content');
  t.notOk(text.includes('8867-4'), 'no search value');
  t.notOk(text.includes(receiver.url), 'no endpoint');
});

t.test('the CapabilityStatement lists Subscription with what is served', async (t) => {
  const config = await testConfig(t, { subscriptions: subscriptionSettings() });
  const { base } = await startServer(t, config);
  const metadata = await fhir(base, 'GET', 'metadata');
  const resource = metadata.body.rest[0].resource.find((r: Json) => r.type === 'Subscription');
  t.ok(resource);
  t.same(resource.interaction.map((i: Json) => i.code).sort(), [
    'create',
    'delete',
    'read',
    'search-type',
    'update',
  ]);
});
