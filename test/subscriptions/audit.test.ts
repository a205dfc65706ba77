/**
 * Subscriptions leave an audit trail: each interaction (create, read, search, update, delete)
 * and each delivered notification (an Export naming the Subscription, the resource sent and
 * its patient), never the criteria values, the endpoint or the body.
 */
import t from 'tap';
import { openDatabase } from '../../src/db/database.js';
import { fhir, startServer } from '../helpers.js';
import { startReceiver } from './receiver.js';
import {
  auth,
  observation,
  patientToken,
  subscription,
  subscriptionWorld,
  TestClock,
  until,
} from './world.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

t.test('every Subscription interaction and delivered notification is audited', async (t) => {
  const { base } = await subscriptionWorld(t);
  const receiver = await startReceiver(t);
  const a = auth(patientToken('pa'));
  const criteria = 'Observation?code=8867-4';
  const endpoint = `${receiver.url}/secret-path-x9`;
  const created = await fhir(base, 'POST', 'Subscription', subscription(endpoint, criteria), a);
  t.equal(created.status, 201, created.text);
  const id = created.body.id as string;
  const ref = `Subscription/${id}`;
  t.equal((await fhir(base, 'GET', ref, undefined, a)).status, 200);
  t.equal(
    (await fhir(base, 'GET', 'Subscription?status=requested,active', undefined, a)).status,
    200,
  );
  const updated = await fhir(base, 'PUT', ref, { ...created.body, id, reason: 'again' }, a);
  t.equal(updated.status, 200, updated.text);
  // Someone else's: refused, and the refusal is audited too.
  const other = auth(patientToken('pb'));
  t.equal((await fhir(base, 'GET', ref, undefined, other)).status, 404);
  t.ok(
    await until(async () => {
      const s = await fhir(base, 'GET', ref, undefined, a);
      return s.body.status === 'active';
    }),
    'handshake done',
  );
  const obs = await fhir(base, 'POST', 'Observation', observation('pa'));
  t.equal(obs.status, 201, obs.text);
  t.ok(
    await until(() =>
      receiver.received.some((r) => r.headers['x-notification-event'] === 'create'),
    ),
    'delivered',
  );
  t.equal((await fhir(base, 'DELETE', ref, undefined, a)).status, 204);

  const events = async (query: string) => {
    const found = await fhir(base, 'GET', `AuditEvent?${query}&_count=100`);
    t.equal(found.status, 200, 'AuditEvent search');
    return ((found.body.entry ?? []) as Json[]).map((e) => e.resource as Json);
  };
  const forSubscription = await events(`entity=${ref}`);
  const subtypes = (list: Json[]) => list.map((e) => `${e.subtype[0].code}:${e.outcome}`).sort();
  const rest = forSubscription.filter((e) => e.type.code === 'rest');
  for (const expected of ['create:0', 'read:0', 'update:0', 'delete:0', 'read:4']) {
    t.ok(subtypes(rest).includes(expected), `${expected} audited`);
  }
  t.ok(
    rest.every((e) => e.agent[0].who.reference === 'Patient/pa' || e.outcome === '4'),
    'the caller is the agent',
  );
  t.ok(
    (await events('subtype=search-type')).some(
      (e) =>
        e.agent[0].who.reference === 'Patient/pa' &&
        (e.entity as Json[]).some((x) => x.what?.reference === ref),
    ),
    'the search is audited and names the Subscription it found',
  );

  await t.resolves(until(async () => (await events('type=110106')).length > 0));
  const exports = await events('type=110106');
  const sent = exports.find((e) => (e.entity as Json[]).some((x) => x.what?.reference === ref));
  t.ok(sent, 'the notification is audited as an Export');
  const entities = (sent?.entity ?? []) as Json[];
  t.ok(
    entities.some((x) => String(x.what?.reference).startsWith(`Observation/${obs.body.id}`)),
    'names the resource sent',
  );
  t.ok(
    entities.some((x) => x.what?.reference === 'Patient/pa'),
    'names its patient',
  );
  t.ok((await events('patient=Patient/pa&type=110106')).length > 0, "in the patient's audit trail");

  const all = JSON.stringify([
    ...forSubscription,
    ...exports,
    ...(await events('subtype=search-type')),
  ]);
  t.notMatch(all, /secret-path-x9/, 'no endpoint');
  // Not inside an id: a UUID's fourth group can read 8867-4… (one in 65 536).
  t.notMatch(all, /(?<![0-9a-f])8867-4(?![0-9a-f])/, 'no criteria values');
  t.notMatch(all, /127\.0\.0\.1:\d+/, 'no endpoint address');
});

t.test('fail-closed: a Subscription write whose AuditEvent fails is not made', async (t) => {
  const clock = new TestClock();
  const world = await subscriptionWorld(t, {}, clock);
  const a = auth(patientToken('pa'));
  const receiver = await startReceiver(t);
  const created = await fhir(
    world.base,
    'POST',
    'Subscription',
    subscription(`${receiver.url}/hook`, 'Observation?code=8867-4'),
    a,
  );
  t.equal(created.status, 201, created.text);
  const id = created.body.id as string;
  await world.close();
  // The database's own refusal of every audit insert, set while no server holds it (embedded
  // PGlite can be opened by one holder at a time).
  const side = () =>
    openDatabase({ databaseUrl: world.config.databaseUrl, dataDir: world.config.dataDir });
  let db = await side();
  await db.query(`CREATE FUNCTION test_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'test: the audit trail refuses inserts'; END $$`);
  await db.query(`CREATE TRIGGER test_refuse BEFORE INSERT ON audit_event
    FOR EACH ROW EXECUTE FUNCTION test_refuse()`);
  await db.close();

  const again = await startServer(t, { ...world.config }, { now: clock.now });
  const ref = `Subscription/${id}`;
  const made = await fhir(
    again.base,
    'POST',
    'Subscription',
    subscription(`${receiver.url}/other`, 'Observation?code=1234-5'),
    a,
  );
  t.equal(made.status, 500, 'create: no audit, no Subscription');
  t.equal(made.body.resourceType, 'OperationOutcome');
  const changed = await fhir(again.base, 'PUT', ref, { ...created.body, id, reason: 'x' }, a);
  t.equal(changed.status, 500, 'update');
  t.equal((await fhir(again.base, 'DELETE', ref, undefined, a)).status, 500, 'delete');
  const read = await fhir(again.base, 'GET', ref, undefined, a);
  t.equal(read.status, 500, 'a read whose audit fails sends nothing');
  t.notMatch(read.text, /hook|8867/);
  await again.close();

  db = await side();
  t.teardown(() => db.close());
  const rows = await db.query<{ id: string; version_id: number; reason: string }>(
    `SELECT id, version_id, resource->>'reason' AS reason FROM subscription`,
  );
  t.same(rows, [{ id, version_id: 1, reason: 'test' }], 'the one Subscription, unchanged');
});
