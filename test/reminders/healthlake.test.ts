/**
 * Reminders with FHIR_STORE=healthlake, on both databases (the embedded one too). The write
 * hooks of a REST write run in the HealthLake store's transaction, those of an operation in the
 * workflow's: both must record reminders where the sender looks, and the reminder record (a
 * Communication written through the outbox) must reach HealthLake past the record guard.
 */
process.env.TEST_STORE = 'healthlake';
import t from 'tap';
import { fhir } from '../helpers.js';
import { PHONES, appointment, byPhone, put, world, bookP2WithDr2 } from './world.js';

const START = '2031-01-02T10:00:00.000Z';

async function communications(base: string, about: string) {
  const res = await fhir(base, 'GET', `Communication?about=${about}&_count=100`);
  if (res.status !== 200) throw new Error(`${res.status} ${res.text}`);
  return (res.body.entry ?? []).map((e: { resource: unknown }) => e.resource) as {
    id: string;
    recipient: { reference: string }[];
  }[];
}

t.test('an Appointment written over REST gets its reminders, recorded in HealthLake', async (t) => {
  const { server, clock, sns } = await world(t);
  t.equal(server.config.store, 'healthlake');
  await put(server.base, appointment('a1', START));
  t.same(await server.app.reminders.runDue(), { sent: 2, skipped: 0, failed: 0 }, 'booked');
  clock.set('2031-01-02T09:30:00Z');
  t.same(await server.app.reminders.runDue(), { sent: 4, skipped: 0, failed: 0 }, '24 h, 1 h');
  const got = byPhone(sns);
  t.equal(got[PHONES.p1]?.length, 3);
  t.equal(got[PHONES.dr1]?.length, 3);
  const records = await communications(server.base, 'Appointment/a1');
  t.equal(records.length, 6, 'each message is a Communication in HealthLake');
  const audit = await fhir(
    server.base,
    'GET',
    `AuditEvent?entity=Communication/${records[0]!.id}&subtype=create`,
  );
  t.equal(audit.body.total, 1, 'and its creation is audited');
  t.equal((await server.app.reminders.runDue()).sent, 0, 'nothing twice');
});

t.test('$book and $cancel on HealthLake: reminders follow the operation', async (t) => {
  const { server, clock, sns } = await world(t);
  const booked = await fhir(server.base, 'POST', 'Appointment/$book', bookP2WithDr2(START));
  t.equal(booked.status, 201, booked.text);
  const id = booked.body.id as string;
  t.equal((await server.app.reminders.runDue()).sent, 2, 'the booked notices');
  const cancelled = await fhir(server.base, 'POST', `Appointment/${id}/$cancel`, {
    resourceType: 'Parameters',
    parameter: [],
  });
  t.equal(cancelled.status, 200, cancelled.text);
  t.equal((await server.app.reminders.runDue()).sent, 2, 'the cancellation notices');
  clock.set('2031-01-02T09:30:00Z');
  t.same(await server.app.reminders.runDue(), { sent: 0, skipped: 0, failed: 0 }, 'no more');
  t.match(byPhone(sns)[PHONES.p2]?.[1], /cancelled/i);
  t.equal((await communications(server.base, `Appointment/${id}`)).length, 4);
});
