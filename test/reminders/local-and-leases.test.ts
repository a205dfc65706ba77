/**
 * NOTIFY_PROVIDER=local (the laptop default): messages recorded in Postgres with a log line that
 * holds no address or text. And the lease: a row a crashed replica claimed is not sent by
 * another until its lease runs out, then once.
 */
import t from 'tap';
import { openDatabase } from '../../src/db/database.js';
import { fhir, logCapture, startServer, testConfig } from '../helpers.js';
import { patient, practitioner } from '../fixtures.js';
import { Clock, PHONES, appointment, put, world } from './world.js';

const START = '2031-01-02T10:00:00.000Z';

t.test('local: each message is a row and a log line, and a Communication', async (t) => {
  const clock = new Clock(new Date('2031-01-01T00:00:00Z'));
  const config = await testConfig(t);
  t.equal(config.notify.provider, 'local', 'the default');
  config.reminders = { ...config.reminders, pollMs: 0 };
  const logs = logCapture();
  const server = await startServer(
    t,
    { ...config, logLevel: 'info' },
    {
      now: clock.now,
      logStream: logs.stream,
    },
  );
  await put(server.base, {
    ...patient({
      telecom: [
        { system: 'email', value: 'peter@example.org' },
        { system: 'sms', value: '+15555550101' },
      ],
    }),
    id: 'p1',
  });
  await put(server.base, {
    ...practitioner({ telecom: [{ system: 'email', value: 'dr@example.org' }] }),
    id: 'dr1',
  });
  await put(server.base, appointment('a1', START));
  t.same(await server.app.reminders.runDue(), { sent: 2, skipped: 0, failed: 0 });
  const comms = await fhir(server.base, 'GET', 'Communication?_count=10');
  const media = comms.body.entry
    .map(
      (e: { resource: { medium: { coding: { code: string }[] }[] } }) =>
        e.resource.medium[0]!.coding[0]!.code,
    )
    .sort();
  t.same(media, ['EMAILWRIT', 'SMSWRIT'], 'SMS for the patient, email for the practitioner');
  const lines = logs.lines.filter((l) => l.includes('notification recorded (local)'));
  t.equal(lines.length, 2, 'a log line per message');
  for (const line of logs.lines) {
    for (const secret of [
      '+15555550101',
      'example.org',
      'Reminder',
      'telehealth visit',
      'Chalmers',
    ]) {
      t.notOk(line.includes(secret), `no ${secret} in the logs`);
    }
  }
  await server.close();
  const db = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  t.teardown(() => db.close());
  const rows = await db.query<{
    channel: string;
    address: string;
    recipient: string;
    body: string;
  }>('SELECT channel, address, recipient, body FROM local_notification ORDER BY channel');
  t.match(rows, [
    {
      channel: 'email',
      address: 'dr@example.org',
      recipient: 'Practitioner/dr1',
      body: /^Your telehealth visit is booked for /,
    },
    {
      channel: 'sms',
      address: '+15555550101',
      recipient: 'Patient/p1',
      body: /^Your telehealth visit is booked for /,
    },
  ]);
});

t.test('a row claimed by a replica that died is sent when its lease runs out, once', async (t) => {
  const w = await world(t);
  await put(w.base, appointment('a1', START, {}, ['Patient/p1']));
  await w.server.close();
  // What a replica that claimed the booked notice and then died leaves behind.
  const db = await openDatabase({ databaseUrl: w.config.databaseUrl, dataDir: w.config.dataDir });
  const claimed = await db.query(
    `UPDATE reminder SET state = 'sending', attempts = 1,
       next_attempt_at = '2031-01-01T00:05:00Z' WHERE kind = 'booked' RETURNING id`,
  );
  await db.close();
  t.equal(claimed.length, 1);
  const second = await w.another();
  t.same(await second.app.reminders.runDue(), { sent: 0, skipped: 0, failed: 0 }, 'leased');
  t.equal(w.sns.messages.length, 0);
  w.clock.set('2031-01-01T00:05:00Z');
  t.same(await second.app.reminders.runDue(), { sent: 1, skipped: 0, failed: 0 });
  t.equal(await second.app.reminders.runDue().then((r) => r.sent), 0);
  t.same(
    w.sns.messages.map((m) => m.phoneNumber),
    [PHONES.p1],
  );
});

t.test('the timer sends what is due without anyone calling runDue', async (t) => {
  const clock = new Clock(new Date('2031-01-01T00:00:00Z'));
  const config = await testConfig(t);
  config.reminders = { ...config.reminders, pollMs: 25 };
  const server = await startServer(t, config, { now: clock.now });
  await put(server.base, {
    ...patient({ telecom: [{ system: 'sms', value: '+15555550101' }] }),
    id: 'p1',
  });
  await put(server.base, appointment('a1', START, {}, ['Patient/p1']));
  // The one real wait in these tests: for the app's own timer, up to 10 s.
  let found = 0;
  for (let i = 0; i < 200 && found === 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    found = (await fhir(server.base, 'GET', 'Communication')).body.entry?.length ?? 0;
  }
  t.equal(found, 1, 'the booked notice went out on the timer');
  await server.close(); // the timer stops with the app, a pass in flight finishing first
});
