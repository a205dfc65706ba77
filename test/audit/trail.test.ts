/**
 * The audit trail as a client and an auditor see it over HTTP: each interaction leaves exactly
 * the AuditEvents it should (found by the request's X-Request-Id), refusals are audited, a
 * write whose audit can't be stored is undone, and break-glass reads are findable.
 */
import { randomUUID } from 'node:crypto';
import t, { type Test } from 'tap';
import { fhir, startTestServer, testConfig, startServer, testToken } from '../helpers.js';
import { encounter, observation, patient } from '../fixtures.js';
import { openDatabase } from '../../src/db/database.js';
import { migrate } from '../../src/db/migrate.js';
import { PostgresStore } from '../../src/store/postgres/postgres-store.js';
import { searchIndexer } from '../../src/store/postgres/search-indexer.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const REQUEST_ID_TYPE = 'https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType';

async function eventsOf(base: string, requestId: string): Promise<Json[]> {
  const res = await fhir(base, 'GET', `AuditEvent?request-id=${requestId}&_count=100`, undefined, {
    prefer: 'handling=strict',
  });
  if (res.status !== 200) throw new Error(res.text);
  return (res.body.entry ?? []).map((entry: Json) => entry.resource);
}

/** Sends a request under a fresh X-Request-Id and returns the response with its events. */
async function audited(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
) {
  const requestId = randomUUID();
  const res = await fhir(base, method, path, body, { 'x-request-id': requestId, ...headers });
  return { res, events: await eventsOf(base, requestId), requestId };
}

const subtype = (event: Json) => event.subtype[0].code;
const entities = (event: Json) =>
  event.entity
    .filter((entity: Json) => entity.what?.reference)
    .map((entity: Json) => entity.what.reference)
    .sort();

function expectOne(t: Test, events: Json[], code: string, action: string, outcome = '0') {
  t.equal(events.length, 1, `exactly one AuditEvent for ${code}`);
  const event = events[0] ?? {};
  t.equal(subtype(event), code);
  t.equal(event.action, action);
  t.equal(event.outcome, outcome);
  t.equal(event.type.code, 'rest');
  t.ok(
    event.entity.some((e: Json) => e.type?.system === REQUEST_ID_TYPE),
    'carries the request id',
  );
  return event as Json;
}

t.test('each interaction leaves exactly its AuditEvent, naming the patient', async (t) => {
  const { base } = await startTestServer(t);
  await fhir(base, 'PUT', 'Patient/p1', { ...patient(), id: 'p1' });
  await fhir(base, 'PUT', 'Encounter/e1', { ...encounter('Patient/p1'), id: 'e1' });
  const provider = {
    authorization: `Bearer ${testToken({
      scope: 'user/*.*',
      role: 'ADMIN',
      fhirUser: 'Practitioner/dr1',
      client_id: 'telehealth-web',
    })}`,
  };

  let step = await audited(base, 'GET', 'Encounter/e1', undefined, provider);
  let event = expectOne(t, step.events, 'read', 'R');
  t.same(entities(event), ['Encounter/e1', 'Patient/p1']);
  t.same(event.agent[0].who, { reference: 'Practitioner/dr1' });
  t.equal(event.agent[0].altId, 'telehealth-web');
  t.equal(event.agent[0].requestor, true);
  t.ok(event.agent[0].network.address, 'network address');

  step = await audited(base, 'GET', 'Encounter/e1/_history/1', undefined, provider);
  t.same(entities(expectOne(t, step.events, 'vread', 'R')), ['Encounter/e1', 'Patient/p1']);

  step = await audited(base, 'GET', 'Encounter?subject=Patient/p1&status=finished');
  event = expectOne(t, step.events, 'search-type', 'E');
  t.same(entities(event), ['Encounter/e1', 'Patient/p1']);
  const query = event.entity.find((e: Json) => e.role?.code === '24');
  t.equal(query.detail[0].valueString, 'subject,status', 'parameter names only');
  t.notMatch(JSON.stringify(event), /finished/, 'no search values');

  step = await audited(base, 'GET', 'Encounter/e1/_history');
  expectOne(t, step.events, 'history-instance', 'R');
  step = await audited(base, 'GET', 'Encounter/_history');
  expectOne(t, step.events, 'history-type', 'R');

  step = await audited(base, 'POST', 'Encounter', encounter('Patient/p1'));
  t.equal(step.res.status, 201);
  event = expectOne(t, step.events, 'create', 'C');
  t.same(entities(event), [`Encounter/${step.res.body.id}`, 'Patient/p1'].sort());

  const created = step.res.body;
  step = await audited(base, 'PUT', `Encounter/${created.id}`, { ...created, status: 'cancelled' });
  t.same(entities(expectOne(t, step.events, 'update', 'U')), entities(event));

  step = await audited(base, 'DELETE', `Encounter/${created.id}`);
  t.equal(step.res.status, 204);
  t.same(entities(expectOne(t, step.events, 'delete', 'D')), entities(event), 'whose data it was');

  const tagged = { ...observation('Patient/p1'), identifier: [{ system: 'urn:t', value: 'o-9' }] };
  step = await audited(base, 'PUT', 'Observation?identifier=urn:t|o-9', tagged);
  t.equal(step.res.status, 201);
  const observationRefs = [`Observation/${step.res.body.id}`, 'Patient/p1'].sort();
  t.same(entities(expectOne(t, step.events, 'update', 'U')), observationRefs);
  step = await audited(base, 'DELETE', 'Observation?identifier=urn:t|o-9');
  t.equal(step.res.status, 204);
  t.same(entities(expectOne(t, step.events, 'delete', 'D')), observationRefs);

  step = await audited(base, 'POST', 'Encounter/$validate', encounter('Patient/p1'));
  expectOne(t, step.events, 'operation', 'E');

  step = await audited(base, 'GET', 'Encounter/nope');
  t.equal(step.res.status, 404);
  expectOne(t, step.events, 'read', 'R', '4');
});

t.test('batch entries are audited one by one; a failed transaction once', async (t) => {
  const { base } = await startTestServer(t);
  await fhir(base, 'PUT', 'Patient/p1', { ...patient(), id: 'p1' });
  let step = await audited(base, 'POST', '', {
    resourceType: 'Bundle',
    type: 'batch',
    entry: [
      { request: { method: 'GET', url: 'Patient/p1' } },
      { resource: encounter('Patient/p1'), request: { method: 'POST', url: 'Encounter' } },
      { request: { method: 'GET', url: 'Patient/missing' } },
    ],
  });
  t.equal(step.res.status, 200);
  t.same(step.events.map(subtype).sort(), ['create', 'read', 'read']);
  t.same(step.events.map((e) => e.outcome).sort(), ['0', '0', '4']);

  step = await audited(base, 'POST', '', {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      { resource: encounter('Patient/p1'), request: { method: 'POST', url: 'Encounter' } },
      { resource: encounter('Patient/p1'), request: { method: 'POST', url: 'Encounter' } },
    ],
  });
  t.equal(step.res.status, 200);
  t.same(step.events.map(subtype), ['create', 'create'], 'committed with the transaction');

  step = await audited(base, 'POST', '', {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      { resource: encounter('Patient/p1'), request: { method: 'POST', url: 'Encounter' } },
      { request: { method: 'DELETE', url: 'Patient/never' } },
    ],
  });
  t.equal(step.res.status, 404);
  const event = expectOne(t, step.events, 'transaction', 'E', '4');
  t.same(entities(event), [], 'the rolled-back create is not recorded as done');
});

t.test('denied requests are audited: 403 with who, 401 with where from', async (t) => {
  const { base } = await startTestServer(t);
  await fhir(base, 'PUT', 'Patient/p1', { ...patient(), id: 'p1' });
  const receptionist = {
    authorization: `Bearer ${testToken({ scope: 'user/*.*', role: 'RECEPTIONIST', sub: 'fd-7' })}`,
  };
  let step = await audited(base, 'GET', 'Encounter?subject=Patient/p1', undefined, receptionist);
  t.equal(step.res.status, 403);
  let event = expectOne(t, step.events, 'search-type', 'E', '4');
  t.same(event.agent[0].who, { identifier: { value: 'fd-7' } });

  step = await audited(base, 'DELETE', 'Patient/p1', undefined, receptionist);
  t.equal(step.res.status, 403);
  t.same(entities(expectOne(t, step.events, 'delete', 'D', '4')), ['Patient/p1']);

  step = await audited(base, 'GET', 'Patient/p1', undefined, {
    authorization: `Bearer ${testToken({}, -600)}`,
  });
  t.equal(step.res.status, 401);
  event = expectOne(t, step.events, 'read', 'R', '4');
  t.same(entities(event), ['Patient/p1']);
  t.equal(event.agent[0].who.identifier.value, 'unauthenticated');
  t.ok(event.agent[0].network.address);
  t.notMatch(JSON.stringify(event), /Bearer|eyJ/, 'no token in the audit');

  step = await audited(base, 'GET', 'metadata');
  t.equal(step.res.status, 200);
  t.equal(step.events.length, 0, 'discovery reads no PHI and is not audited');
});

t.test('break-glass reads carry purposeOfUse BTG and are found by purpose-of-use', async (t) => {
  const { base } = await startTestServer(t);
  await fhir(base, 'PUT', 'Patient/p9', { ...patient(), id: 'p9' });
  const provider = `Bearer ${testToken({ scope: 'user/*.*', role: 'PROVIDER', fhirUser: 'Practitioner/dr1' })}`;
  const refused = await fhir(base, 'GET', 'Patient/p9', undefined, { authorization: provider });
  t.equal(refused.status, 404, 'not assigned: as if absent');
  const step = await audited(base, 'GET', 'Patient/p9', undefined, {
    authorization: provider,
    'x-break-glass': 'patient unconscious, no GP on call',
  });
  t.equal(step.res.status, 200);
  const event = expectOne(t, step.events, 'read', 'R');
  const purpose = event.agent[0].purposeOfUse[0];
  t.equal(purpose.coding[0].code, 'BTG');
  t.equal(purpose.coding[0].system, 'http://terminology.hl7.org/CodeSystem/v3-ActReason');
  t.equal(purpose.text, 'patient unconscious, no GP on call');
  const found = await fhir(base, 'GET', 'AuditEvent?purpose-of-use=BTG&patient=Patient/p9');
  t.same(
    found.body.entry.map((entry: Json) => entry.resource.id),
    [event.id],
    'exactly the break-glass read',
  );
  const admin = `Bearer ${testToken({ scope: 'user/*.*', role: 'ADMIN', fhirUser: 'Practitioner/a' })}`;
  t.equal(
    (await fhir(base, 'GET', 'AuditEvent?purpose-of-use=BTG', undefined, { authorization: admin }))
      .body.entry.length,
    1,
    'an ADMIN finds it',
  );
  t.equal(
    (await fhir(base, 'GET', 'AuditEvent', undefined, { authorization: provider })).status,
    403,
    'a provider may not read the trail',
  );
});

t.test(
  'fail-closed: when the audit insert fails, the write is undone and the client gets 500',
  async (t) => {
    // The store is opened here so the test keeps a handle on its database (Postgres or PGlite).
    const config = await testConfig(t);
    const db = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
    await migrate(db);
    const store = new PostgresStore(db, db, false, searchIndexer(config.baseUrl));
    await store.sharedSecret('paging');
    const { base } = await startServer(t, config, { store });
    const put = await fhir(base, 'PUT', 'Patient/p1', { ...patient(), id: 'p1' });
    t.equal(put.status, 201);
    // From now on every audit_event insert is refused.
    await db.query(`CREATE FUNCTION test_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'test: the audit trail refuses inserts'; END $$`);
    await db.query(`CREATE TRIGGER test_refuse BEFORE INSERT ON audit_event
      FOR EACH ROW EXECUTE FUNCTION test_refuse()`);

    const created = await fhir(base, 'POST', 'Patient', patient({ name: [{ family: 'Lost' }] }));
    t.equal(created.status, 500);
    t.equal(created.body.resourceType, 'OperationOutcome');
    const updated = await fhir(base, 'PUT', 'Patient/p1', {
      ...patient(),
      id: 'p1',
      gender: 'female',
    });
    t.equal(updated.status, 500);
    const deleted = await fhir(base, 'DELETE', 'Patient/p1');
    t.equal(deleted.status, 500);
    const read = await fhir(base, 'GET', 'Patient/p1');
    t.equal(read.status, 500, 'a read whose audit fails sends no data');
    t.notMatch(read.text, /Chalmers/);

    await db.query('DROP TRIGGER test_refuse ON audit_event');
    const after = await fhir(base, 'GET', 'Patient/p1');
    t.equal(after.status, 200, 'still there');
    t.equal(after.body.gender, 'male', 'unchanged');
    t.equal(after.body.meta.versionId, '1');
    const lost = await fhir(base, 'GET', 'Patient?family=Lost');
    t.equal(lost.body.entry?.length ?? 0, 0, 'the create left nothing');
    t.equal((await fhir(base, 'GET', 'Patient/_history')).body.total, 1, 'no version was added');
  },
);

t.test('AuditEvents are append-only over REST', async (t) => {
  const { base } = await startTestServer(t);
  await fhir(base, 'GET', 'Patient?_count=1');
  const [first] = (await fhir(base, 'GET', 'AuditEvent')).body.entry;
  const id = first.resource.id;
  t.equal((await fhir(base, 'PUT', `AuditEvent/${id}`, first.resource)).status, 405);
  t.equal((await fhir(base, 'DELETE', `AuditEvent/${id}`)).status, 405);
  t.equal((await fhir(base, 'POST', 'AuditEvent', first.resource)).status, 405);
  t.equal((await fhir(base, 'GET', `AuditEvent/${id}`)).body.id, id, 'still readable');
});
