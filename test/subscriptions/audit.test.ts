/**
 * Subscriptions leave an audit trail: each interaction (create, read, search, update, delete)
 * and each delivered notification (an Export naming the Subscription, the resource sent and
 * its patient), never the criteria values, the endpoint or the body.
 */
import t from 'tap';
import { fhir } from '../helpers.js';
import { startReceiver } from './receiver.js';
import {
  auth,
  observation,
  patientToken,
  subscription,
  subscriptionWorld,
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
  t.notMatch(all, /8867-4/, 'no criteria values');
  t.notMatch(all, /127\.0\.0\.1:\d+/, 'no endpoint address');
});
