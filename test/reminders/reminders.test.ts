/**
 * Appointment reminders end to end: appointments written over HTTP (REST, $book, $cancel),
 * reminders sent by `runDue` on a clock the test moves (no sleeping), through the real SNS
 * client to an emulator that checks SigV4, and recorded as Communications.
 */
import t from 'tap';
import { fhir } from '../helpers.js';
import {
  PHONES,
  SECRETS,
  appointment,
  byPhone,
  patientToken,
  put,
  world,
  bookP2WithDr2,
} from './world.js';

const START = '2031-01-02T10:00:00.000Z';
const WHEN = 'Thursday, January 2, 2031 at 10:00 AM UTC';
const LINK = 'https://visit.example/v/a1';

/** How many a search finds (the first hundred). */
async function count(base: string, query: string, headers: Record<string, string> = {}) {
  const res = await fhir(
    base,
    'GET',
    `${query}${query.includes('?') ? '&' : '?'}_count=100`,
    undefined,
    headers,
  );
  if (res.status !== 200) throw new Error(`${res.status} ${res.text}`);
  return (res.body.entry ?? []).length as number;
}

t.test('attack: only the people taking part are messaged, never anyone else', async (t) => {
  const { server, clock, sns } = await world(t);
  await put(
    server.base,
    appointment('a1', START, {
      participant: [
        { actor: { reference: 'Patient/p1' }, status: 'accepted' },
        { actor: { reference: 'Practitioner/dr1' }, status: 'accepted' },
        { actor: { reference: 'Practitioner/dr2' }, status: 'declined' },
      ],
    }),
  );
  await server.app.reminders.runDue();
  clock.set('2031-01-02T09:30:00Z');
  await server.app.reminders.runDue();
  const got = byPhone(sns);
  t.same(Object.keys(got).sort(), [PHONES.p1, PHONES.dr1].sort(), 'p2 and declined dr2: nothing');
  t.equal(got[PHONES.p1]!.length, 3, 'booked notice, 24 h and 1 h reminders');

  // Practitioner dr1 taken off the appointment: what was pending for them is dropped.
  const before = sns.messages.length;
  clock.set('2031-01-01T00:00:00Z');
  await put(server.base, appointment('a2', '2031-01-05T10:00:00Z'));
  await server.app.reminders.runDue();
  await put(server.base, appointment('a2', '2031-01-05T10:00:00Z', {}, ['Patient/p1']));
  clock.set('2031-01-05T09:30:00Z');
  await server.app.reminders.runDue();
  const later = byPhone(sns, before);
  t.equal(later[PHONES.dr1]?.length, 1, 'dr1 heard of the booking, then nothing more');
  t.equal(later[PHONES.p1]?.length, 3);
});

t.test('booking: a notice now, then a reminder at each offset, with no PHI', async (t) => {
  const { server, clock, sns } = await world(t);
  await put(server.base, appointment('a1', START));
  t.same(await server.app.reminders.runDue(), { sent: 2, skipped: 0, failed: 0 });
  t.same(byPhone(sns), {
    [PHONES.p1]: [`Your telehealth visit is booked for ${WHEN} ${LINK}`],
    [PHONES.dr1]: [`Your telehealth visit is booked for ${WHEN} ${LINK}`],
  });
  t.same(await server.app.reminders.runDue(), { sent: 0, skipped: 0, failed: 0 }, 'not early');
  clock.set('2031-01-01T09:59:59Z');
  t.equal((await server.app.reminders.runDue()).sent, 0, 'one second before 24 h: nothing');
  clock.set('2031-01-01T10:00:00Z');
  t.equal((await server.app.reminders.runDue()).sent, 2, '24 h before');
  clock.set('2031-01-02T09:00:00Z');
  t.equal((await server.app.reminders.runDue()).sent, 2, '1 h before');
  clock.set('2031-01-03T00:00:00Z');
  t.equal((await server.app.reminders.runDue()).sent, 0);
  t.same(byPhone(sns)[PHONES.p1]!.slice(1), [
    `Reminder: your telehealth visit is on ${WHEN} ${LINK}`,
    `Reminder: your telehealth visit is on ${WHEN} ${LINK}`,
  ]);
  const mrn = (await fhir(server.base, 'GET', 'Patient/p1')).body.identifier
    .map((i: { value: string }) => i.value)
    .filter(Boolean);
  for (const { message } of sns.messages) {
    for (const secret of [...SECRETS, ...mrn]) t.notOk(message.includes(secret), secret);
  }
  t.same(sns.rejections, [], 'every request was signed correctly');
});

t.test('offsets already past are skipped', async (t) => {
  const { server, clock, sns } = await world(t);
  await put(server.base, appointment('a1', '2031-01-01T02:00:00Z', {}, ['Patient/p1']));
  await put(server.base, appointment('a3', '2031-01-01T00:30:00Z', {}, ['Patient/p2']));
  clock.set('2031-01-01T01:30:00Z');
  await server.app.reminders.runDue();
  const got = byPhone(sns);
  t.equal(got[PHONES.p1]!.length, 2, 'booked notice and the 1 h reminder; no 24 h');
  t.match(got[PHONES.p1]![1], /^Reminder: /);
  t.equal(got[PHONES.p2]!.length, 1, 'half an hour ahead: the booked notice only');
});

t.test('a reminder whose visit has started is not sent late', async (t) => {
  const { server, clock, sns } = await world(t);
  await put(server.base, appointment('a1', START, {}, ['Patient/p1']));
  clock.set('2031-01-02T10:05:00Z'); // the server was down through both reminders
  t.same(await server.app.reminders.runDue(), { sent: 1, skipped: 2, failed: 0 });
  t.equal(sns.messages.length, 1, 'the booked notice only');
});

t.test('cancelling drops pending reminders: a notice, then nothing', async (t) => {
  const { server, clock, sns } = await world(t);
  await put(server.base, appointment('a1', START));
  await put(server.base, appointment('a2', START, {}, ['Patient/p2', 'Practitioner/dr2']));
  await server.app.reminders.runDue();
  const before = sns.messages.length;
  const cancel = await fhir(server.base, 'POST', 'Appointment/a1/$cancel', {
    resourceType: 'Parameters',
    parameter: [{ name: 'reason', valueString: 'chest pain worse' }],
  });
  t.equal(cancel.status, 200, cancel.text);
  t.equal((await fhir(server.base, 'DELETE', 'Appointment/a2')).status, 204);
  await server.app.reminders.runDue();
  t.same(byPhone(sns, before), {
    [PHONES.p1]: [`Your telehealth visit on ${WHEN} is cancelled ${LINK}`],
    [PHONES.dr1]: [`Your telehealth visit on ${WHEN} is cancelled ${LINK}`],
    [PHONES.p2]: [`Your telehealth visit on ${WHEN} is cancelled https://visit.example/v/a2`],
    [PHONES.dr2]: [`Your telehealth visit on ${WHEN} is cancelled https://visit.example/v/a2`],
  });
  const after = sns.messages.length;
  for (const at of ['2031-01-01T10:00:00Z', '2031-01-02T09:00:00Z', '2031-01-02T09:59:00Z']) {
    clock.set(at);
    await server.app.reminders.runDue();
  }
  t.equal(sns.messages.length, after, 'nothing after the cancellation');
});

t.test('rescheduling moves the reminders to the new time', async (t) => {
  const { server, clock, sns } = await world(t);
  await put(server.base, appointment('a1', START, {}, ['Patient/p1']));
  await server.app.reminders.runDue();
  const moved = '2031-01-03T15:30:00.000Z';
  await put(server.base, appointment('a1', moved, {}, ['Patient/p1']));
  await server.app.reminders.runDue();
  const newWhen = 'Friday, January 3, 2031 at 3:30 PM UTC';
  t.same(byPhone(sns)[PHONES.p1], [
    `Your telehealth visit is booked for ${WHEN} ${LINK}`,
    `Your telehealth visit has moved to ${newWhen} ${LINK}`,
  ]);
  for (const at of ['2031-01-01T10:00:00Z', '2031-01-02T09:00:00Z']) {
    clock.set(at);
    t.equal((await server.app.reminders.runDue()).sent, 0, `nothing at the old time ${at}`);
  }
  clock.set('2031-01-02T15:30:00Z');
  t.equal((await server.app.reminders.runDue()).sent, 1);
  clock.set('2031-01-03T14:30:00Z');
  t.equal((await server.app.reminders.runDue()).sent, 1);
  t.same(byPhone(sns)[PHONES.p1]!.slice(2), [
    `Reminder: your telehealth visit is on ${newWhen} ${LINK}`,
    `Reminder: your telehealth visit is on ${newWhen} ${LINK}`,
  ]);
  // Re-saving the booking unchanged schedules nothing again.
  await put(server.base, appointment('a1', moved, { comment: 'bring glasses' }, ['Patient/p1']));
  clock.set('2031-01-03T15:00:00Z');
  t.equal((await server.app.reminders.runDue()).sent, 0);
});

t.test('$book schedules reminders like any other write', async (t) => {
  const { server, clock, sns } = await world(t);
  const booked = await fhir(server.base, 'POST', 'Appointment/$book', bookP2WithDr2(START));
  t.equal(booked.status, 201, booked.text);
  await server.app.reminders.runDue();
  clock.set('2031-01-02T09:00:00Z');
  await server.app.reminders.runDue();
  const got = byPhone(sns);
  t.same(Object.keys(got).sort(), [PHONES.p2, PHONES.dr2].sort());
  t.equal(got[PHONES.p2]!.length, 3);
  t.match(got[PHONES.p2]![2], `https://visit.example/v/${booked.body.id}`);
});

t.test('each message is a Communication the patient can read and another cannot', async (t) => {
  const { server, clock } = await world(t);
  await put(server.base, appointment('a1', START));
  clock.set('2031-01-01T00:00:07Z');
  await server.app.reminders.runDue();
  t.equal(await count(server.base, 'Communication'), 2, 'one per person');
  const mine = await fhir(server.base, 'GET', 'Communication?patient=p1', undefined, {
    authorization: `Bearer ${patientToken('p1')}`,
  });
  t.equal(mine.status, 200);
  t.equal(mine.body.entry?.length, 2, 'the patient sees both: they are about the patient');
  const communication = mine.body.entry.find(
    (e: { resource: { recipient: { reference: string }[] } }) =>
      e.resource.recipient[0]!.reference === 'Patient/p1',
  ).resource;
  t.match(communication, {
    status: 'completed',
    subject: { reference: 'Patient/p1' },
    about: [{ reference: 'Appointment/a1' }],
    recipient: [{ reference: 'Patient/p1' }],
    sent: '2031-01-01T00:00:07.000Z',
    medium: [{ coding: [{ code: 'SMSWRIT' }] }],
    payload: [{ contentString: `Your telehealth visit is booked for ${WHEN} ${LINK}` }],
  });
  const other = { authorization: `Bearer ${patientToken('p2')}` };
  const theirs = await fhir(
    server.base,
    'GET',
    'Communication?about=Appointment/a1',
    undefined,
    other,
  );
  t.equal(theirs.body.total, 0, 'another patient finds none');
  const read = await fhir(
    server.base,
    'GET',
    `Communication/${communication.id}`,
    undefined,
    other,
  );
  t.ok([403, 404].includes(read.status), `another patient can't read it (${read.status})`);
  const audit = await fhir(
    server.base,
    'GET',
    `AuditEvent?entity=Communication/${communication.id}&subtype=create`,
  );
  t.equal(audit.body.total, 1, 'its creation is in the audit trail');
  t.match(audit.body.entry[0].resource, {
    action: 'C',
    entity: [{}, { what: { reference: `Communication/${communication.id}` } }],
  });
});

t.test('two replicas sending at once send each message once', async (t) => {
  const w = await world(t);
  for (let i = 0; i < 6; i++) await put(w.base, appointment(`a${i}`, `2031-01-03T1${i}:00:00Z`));
  // Embedded PGlite is one process's database: the second "replica" is a second pass in this
  // one, racing the first. With DATABASE_URL it is a second app on the same database.
  const other = w.config.databaseUrl ? (await w.another()).app : w.server.app;
  t.comment(w.config.databaseUrl ? 'two apps on one Postgres' : 'two passes on one PGlite');
  const times = ['2031-01-01T00:00:00Z', '2031-01-02T16:00:00Z'];
  // Each appointment's 1 h reminder in turn, before that appointment starts.
  for (let i = 0; i < 6; i++) times.push(new Date(Date.UTC(2031, 0, 3, 9 + i)).toISOString());
  let total = 0;
  for (const at of times) {
    w.clock.set(at);
    const [a, b] = await Promise.all([w.server.app.reminders.runDue(), other.reminders.runDue()]);
    total += a.sent + b.sent;
    t.same(a.skipped + b.skipped + a.failed + b.failed, 0, `${at}: sent ${a.sent} + ${b.sent}`);
  }
  // 6 appointments x 2 people x (booked + 24 h + 1 h).
  t.equal(total, 36, 'each pass counts what it sent');
  t.equal(w.sns.messages.length, 36, 'each message reached SNS once');
  const keys = w.sns.messages.map((m) => `${m.phoneNumber} ${m.message}`);
  t.equal(new Set(keys).size, 36 - 12, 'the same text twice only for the 24 h and 1 h reminders');
  t.equal(await count(w.base, 'Communication'), 36, 'one Communication per message');
});

t.test('a restart sends what is pending and nothing already sent', async (t) => {
  const w = await world(t);
  await put(w.base, appointment('a1', START));
  await w.server.app.reminders.runDue();
  t.equal(w.sns.messages.length, 2);
  await w.server.close();
  const second = await w.another();
  t.equal((await second.app.reminders.runDue()).sent, 0, 'the booked notices are not resent');
  w.clock.set('2031-01-02T09:10:00Z');
  t.same(await second.app.reminders.runDue(), { sent: 4, skipped: 0, failed: 0 });
  t.equal(w.sns.messages.length, 6);
});

t.test('a failed send is retried later, and recorded only once it is sent', async (t) => {
  const { server, clock, sns } = await world(t);
  await put(server.base, appointment('a1', START, {}, ['Patient/p1']));
  sns.failNext(2, 'internal'); // both attempts the client makes
  t.same(await server.app.reminders.runDue(), { sent: 0, skipped: 0, failed: 1 });
  t.equal(await count(server.base, 'Communication'), 0);
  t.equal((await server.app.reminders.runDue()).sent, 0, 'not again at once');
  clock.set('2031-01-01T00:01:00Z');
  t.equal((await server.app.reminders.runDue()).sent, 1, 'after the back-off');
  t.equal(sns.messages.length, 1);
  t.equal(await count(server.base, 'Communication'), 1);
});

t.test('someone with no phone gets nothing over SMS, and the row is not retried', async (t) => {
  const { server, sns } = await world(t);
  await fhir(server.base, 'PUT', 'Patient/p3', {
    resourceType: 'Patient',
    id: 'p3',
    telecom: [
      { system: 'email', value: 'p3@example.org' },
      { system: 'phone', value: '555-0103' }, // not E.164: SNS would refuse it
      { system: 'phone', value: '+15555550109', use: 'old' },
    ],
  });
  await put(server.base, appointment('a1', START, {}, ['Patient/p3']));
  t.same(await server.app.reminders.runDue(), { sent: 0, skipped: 1, failed: 0 });
  t.equal(sns.calls, 0);
  t.same(await server.app.reminders.runDue(), { sent: 0, skipped: 0, failed: 0 });
});

t.test('attack: in a two-patient visit, each patient reads only their own reminder', async (t) => {
  const { server, clock } = await world(t);
  await put(
    server.base,
    appointment('a2', START, {}, ['Patient/p1', 'Patient/p2', 'Practitioner/dr1']),
  );
  clock.set('2031-01-01T00:00:07Z');
  t.equal((await server.app.reminders.runDue()).sent, 3);
  const all = await fhir(server.base, 'GET', 'Communication?about=Appointment/a2&_count=100');
  const byRecipient = Object.fromEntries(
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    (all.body.entry as { resource: Record<string, any> }[]).map((e) => [
      e.resource.recipient[0].reference as string,
      e.resource,
    ]),
  );
  t.same(byRecipient['Patient/p1']!.subject, { reference: 'Patient/p1' });
  t.same(byRecipient['Patient/p2']!.subject, { reference: 'Patient/p2' }, "B's is B's");
  t.notOk(byRecipient['Practitioner/dr1']!.subject, 'two patients: no one patient is the subject');
  const asA = { authorization: `Bearer ${patientToken('p1')}` };
  const read = await fhir(
    server.base,
    'GET',
    `Communication/${byRecipient['Patient/p2']!.id}`,
    undefined,
    asA,
  );
  t.ok([403, 404].includes(read.status), `A can't read B's reminder (${read.status})`);
  const found = await fhir(
    server.base,
    'GET',
    'Communication?about=Appointment/a2',
    undefined,
    asA,
  );
  t.same(
    (found.body.entry ?? []).map((e: { resource: { id: string } }) => e.resource.id),
    [byRecipient['Patient/p1']!.id],
    'A finds only their own',
  );
});
