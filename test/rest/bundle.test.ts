import { randomUUID } from 'node:crypto';
import t from 'tap';
import { openPostgresStore } from '../../src/store/postgres/open.js';
import { fhir, logCapture, startServer, startTestServer, testConfig } from '../helpers.js';

const patient = { resourceType: 'Patient', name: [{ family: 'Chalmers', given: ['Peter'] }] };

const urn = () => `urn:uuid:${randomUUID()}`;

type Entry = Record<string, unknown>;
const bundle = (type: string, entry: Entry[]) => ({ resourceType: 'Bundle', type, entry });

/** POSTs a Bundle of `type` to the base. */
const send = (base: string, type: string, entry: Entry[], headers?: Record<string, string>) =>
  fhir(base, 'POST', '', bundle(type, entry), headers);

const historyTotal = async (base: string, type: string) =>
  (await fhir(base, 'GET', `${type}/_history`)).body.total as number;

t.test('batch answers every entry in request order, failures included', async (t) => {
  const { base } = await startTestServer(t);
  await fhir(base, 'PUT', 'Patient/p1', { ...patient, id: 'p1' });
  const res = await send(base, 'batch', [
    { resource: patient, request: { method: 'POST', url: 'Patient' } },
    { request: { method: 'GET', url: 'Patient/unknown' } },
    {
      resource: { ...patient, id: 'p1', gender: 'male' },
      request: { method: 'PUT', url: 'Patient/p1', ifMatch: 'W/"9"' },
    },
    { resource: { ...patient, id: 'other' }, request: { method: 'PUT', url: 'Patient/p1' } },
    { resource: patient },
    { request: { method: 'GET', url: 'Patient/p1' } },
  ]);
  t.equal(res.status, 200);
  t.equal(res.body.resourceType, 'Bundle');
  t.equal(res.body.type, 'batch-response');
  const entries = res.body.entry;
  t.same(
    entries.map((entry: { response: { status: string } }) => entry.response.status),
    [
      '201 Created',
      '404 Not Found',
      '412 Precondition Failed',
      '400 Bad Request',
      '400 Bad Request',
      '200 OK',
    ],
  );

  const created = entries[0];
  t.equal(created.resource.resourceType, 'Patient');
  t.equal(created.fullUrl, `${base}/Patient/${created.resource.id}`);
  t.equal(created.response.location, `${base}/Patient/${created.resource.id}/_history/1`);
  t.equal(created.response.etag, 'W/"1"');
  t.equal(created.response.lastModified, created.resource.meta.lastUpdated);
  t.equal((await fhir(base, 'GET', `Patient/${created.resource.id}`)).status, 200);

  for (const [index, code] of [
    [1, 'not-found'],
    [2, 'conflict'],
    [3, 'invalid'],
    [4, 'required'],
  ] as const) {
    const { outcome } = entries[index].response;
    t.equal(outcome.resourceType, 'OperationOutcome', `entry ${index} carries an outcome`);
    t.equal(outcome.issue[0].severity, 'error');
    t.equal(outcome.issue[0].code, code, `entry ${index}: ${outcome.issue[0].diagnostics}`);
    t.notOk(entries[index].resource);
  }
  t.match(entries[4].response.outcome.issue[0].diagnostics, /Bundle\.entry\[4\]\.request/);

  t.equal(entries[5].resource.id, 'p1');
  t.equal(entries[5].resource.meta.versionId, '1', 'the failed updates changed nothing');
});

t.test('batch GET entries read, vread and return history', async (t) => {
  const { base } = await startTestServer(t);
  await fhir(base, 'PUT', 'Patient/p1', { ...patient, id: 'p1' });
  await fhir(base, 'PUT', 'Patient/p1', { ...patient, id: 'p1', gender: 'female' });
  const res = await send(base, 'batch', [
    { request: { method: 'GET', url: 'Patient/p1' } },
    { request: { method: 'GET', url: 'Patient/p1/_history/1' } },
    { request: { method: 'GET', url: 'Patient/p1/_history' } },
    { request: { method: 'GET', url: `${base}/Patient/_history?_count=1` } },
    { request: { method: 'GET', url: 'Patient/p1', ifNoneMatch: 'W/"2"' } },
  ]);
  t.equal(res.status, 200);
  const [read, vread, instanceHistory, typeHistory, notModified] = res.body.entry;
  t.equal(read.response.status, '200 OK');
  t.equal(read.response.etag, 'W/"2"');
  t.equal(read.resource.gender, 'female');
  t.equal(vread.response.status, '200 OK');
  t.equal(vread.resource.meta.versionId, '1');
  t.equal(vread.resource.gender, undefined);
  t.equal(instanceHistory.resource.type, 'history');
  t.equal(instanceHistory.resource.total, 2);
  t.notOk(instanceHistory.fullUrl, 'a history Bundle has no fullUrl');
  t.equal(typeHistory.resource.entry.length, 1, 'parameters in an absolute URL are honoured');
  t.equal(notModified.response.status, '304 Not Modified');
  t.notOk(notModified.resource);
});

t.test('an unexpected failure in a batch entry is a generic 500, logged, not leaked', async (t) => {
  const config = await testConfig(t, { logLevel: 'error' });
  const store = await openPostgresStore(config);
  const failing = new Proxy(store, {
    get: (target, property, receiver) =>
      property === 'vread'
        ? () => Promise.reject(new Error('disk on fire at /var/secret'))
        : Reflect.get(target, property, receiver),
  });
  const logs = logCapture();
  const { base } = await startServer(t, config, { store: failing, logStream: logs.stream });
  await fhir(base, 'PUT', 'Patient/p1', { ...patient, id: 'p1' });
  const res = await send(
    base,
    'batch',
    [
      { request: { method: 'GET', url: 'Patient/p1/_history/1' } },
      { request: { method: 'GET', url: 'Patient/p1' } },
    ],
    { 'x-request-id': 'batch-500' },
  );
  t.equal(res.status, 200);
  const [failed, read] = res.body.entry;
  t.equal(failed.response.status, '500 Internal Server Error');
  t.equal(failed.response.outcome.issue[0].code, 'exception');
  t.match(failed.response.outcome.issue[0].diagnostics, /batch-500/);
  t.notMatch(res.text, /disk on fire/, 'the error itself is not sent');
  // Logged by type and frames; not by message, which can quote data (src/logger.ts).
  t.match(logs.text(), /"reqId":"batch-500","err":\{"type":"Error"/, 'but it is logged');
  t.notMatch(logs.text(), /disk on fire/, 'without its message');
  t.equal(read.response.status, '200 OK', 'the other entries still run');
});

t.test('transaction resolves urn:uuid references to the ids it assigns', async (t) => {
  const { base } = await startTestServer(t);
  const patientUrn = urn();
  const res = await send(base, 'transaction', [
    // The Encounter comes first: references resolve whatever the order.
    {
      fullUrl: urn(),
      resource: {
        resourceType: 'Encounter',
        status: 'finished',
        class: { code: 'VR' },
        subject: { reference: patientUrn, display: 'Peter' },
        participant: [{ individual: { reference: patientUrn } }],
      },
      request: { method: 'POST', url: 'Encounter' },
    },
    { fullUrl: patientUrn, resource: patient, request: { method: 'POST', url: 'Patient' } },
  ]);
  t.equal(res.status, 200);
  t.equal(res.body.type, 'transaction-response');
  const [encounter, created] = res.body.entry;
  t.equal(created.response.status, '201 Created');
  t.equal(encounter.response.status, '201 Created');
  const patientId = created.resource.id;
  t.match(patientId, /^[A-Za-z0-9\-.]{1,64}$/);
  t.notOk(patientUrn.endsWith(patientId), 'the server chooses the id');
  t.equal(created.response.location, `${base}/Patient/${patientId}/_history/1`);
  t.equal(encounter.resource.subject.reference, `Patient/${patientId}`);
  t.equal(encounter.resource.subject.display, 'Peter');
  t.equal(encounter.resource.participant[0].individual.reference, `Patient/${patientId}`);

  const stored = await fhir(base, 'GET', `Encounter/${encounter.resource.id}`);
  t.equal(stored.status, 200);
  t.equal(stored.body.subject.reference, `Patient/${patientId}`);
  t.notMatch(stored.text, /urn:uuid/, 'no placeholder is stored');
  t.equal((await fhir(base, 'GET', `Patient/${patientId}`)).status, 200);
});

t.test('transaction processes DELETE, POST, PUT, GET in that order', async (t) => {
  const { base } = await startTestServer(t);
  await fhir(base, 'PUT', 'Patient/x', { ...patient, id: 'x' });
  await fhir(base, 'PUT', 'Patient/y', { ...patient, id: 'y' });
  const res = await send(base, 'transaction', [
    { request: { method: 'GET', url: 'Patient/y' } },
    {
      resource: { ...patient, id: 'y', gender: 'other' },
      request: { method: 'PUT', url: 'Patient/y' },
    },
    { resource: patient, request: { method: 'POST', url: 'Patient' } },
    { request: { method: 'DELETE', url: 'Patient/x' } },
  ]);
  t.equal(res.status, 200);
  const [read, put, post, del] = res.body.entry;
  t.same(
    res.body.entry.map((entry: { response: { status: string } }) => entry.response.status),
    ['200 OK', '200 OK', '201 Created', '204 No Content'],
    'responses stay in request order',
  );
  t.equal(read.resource.gender, 'other', 'the GET ran after the PUT');
  t.equal(read.resource.meta.versionId, '2');
  t.equal(put.resource.meta.versionId, '2');
  t.notOk(del.resource);

  const history = await fhir(base, 'GET', '_history?_count=3');
  t.same(
    history.body.entry.map((entry: { request: { method: string } }) => entry.request.method),
    // HealthLake: creates go upstream as PUT with the id the facade chose.
    process.env.TEST_STORE === 'healthlake' ? ['PUT', 'PUT', 'DELETE'] : ['PUT', 'POST', 'DELETE'],
    'written DELETE first, then POST, then PUT (history lists newest first)',
  );
  t.equal(history.body.entry[1].resource.id, post.resource.id);
  t.equal((await fhir(base, 'GET', 'Patient/x')).status, 410);
});

// HealthLake: a transaction's writes reach HealthLake together at its end (one upstream
// transaction Bundle), so its searches and history see the state before it; reads by id do.
const onHealthLake = process.env.TEST_STORE === 'healthlake';
t.test(
  "transaction history and search entries see the transaction's own writes",
  { skip: onHealthLake && 'a transaction’s searches run before its writes reach HealthLake' },
  async (t) => {
    const { base } = await startTestServer(t);
    const res = await send(base, 'transaction', [
      { request: { method: 'GET', url: 'Patient/_history' } },
      { request: { method: 'GET', url: 'Patient?name=Chalmers' } },
      { resource: patient, request: { method: 'POST', url: 'Patient' } },
    ]);
    t.equal(res.status, 200);
    const [history, search, created] = res.body.entry;
    t.equal(history.resource.type, 'history');
    t.equal(history.resource.total, 1);
    t.equal(search.resource.type, 'searchset');
    t.same(
      search.resource.entry.map((entry: { resource: { id: string } }) => entry.resource.id),
      [created.resource.id],
    );
  },
);

t.test('conditional create in a transaction maps its urn to the existing match', async (t) => {
  const { base } = await startTestServer(t);
  const identifier = [{ system: 'urn:mrn', value: '12345' }];
  const existing = await fhir(base, 'POST', 'Patient', { ...patient, identifier });
  const patientUrn = urn();
  const res = await send(base, 'transaction', [
    {
      fullUrl: urn(),
      resource: {
        resourceType: 'Encounter',
        status: 'planned',
        class: { code: 'VR' },
        subject: { reference: patientUrn },
      },
      request: { method: 'POST', url: 'Encounter' },
    },
    {
      fullUrl: patientUrn,
      resource: { ...patient, identifier },
      request: { method: 'POST', url: 'Patient', ifNoneExist: 'identifier=urn:mrn|12345' },
    },
  ]);
  t.equal(res.status, 200);
  const [encounter, matched] = res.body.entry;
  t.equal(matched.response.status, '200 OK');
  t.equal(matched.resource.id, existing.body.id);
  t.equal(encounter.resource.subject.reference, `Patient/${existing.body.id}`);
  t.equal(await historyTotal(base, 'Patient'), 1, 'no second Patient was created');
});

t.test('a failing entry rolls the whole transaction back and is named', async (t) => {
  const { base } = await startTestServer(t);
  await fhir(base, 'PUT', 'Patient/p1', { ...patient, id: 'p1' });
  const attempt = (third: Entry) => {
    const patientUrn = urn();
    return send(base, 'transaction', [
      { fullUrl: patientUrn, resource: patient, request: { method: 'POST', url: 'Patient' } },
      {
        resource: {
          resourceType: 'Encounter',
          status: 'planned',
          class: { code: 'VR' },
          subject: { reference: patientUrn },
        },
        request: { method: 'POST', url: 'Encounter' },
      },
      third,
    ]);
  };

  const stale = await attempt({
    resource: { ...patient, id: 'p1', gender: 'male' },
    request: { method: 'PUT', url: 'Patient/p1', ifMatch: 'W/"7"' },
  });
  t.equal(stale.status, 412);
  t.equal(stale.body.resourceType, 'OperationOutcome');
  t.match(stale.body.issue[0].diagnostics, /^Bundle\.entry\[2\]: /);
  t.same(stale.body.issue[0].expression, ['Bundle.entry[2]'], 'no finer location to add');

  const mismatched = await attempt({
    resource: { ...patient, id: 'other' },
    request: { method: 'PUT', url: 'Patient/p1' },
  });
  t.equal(mismatched.status, 400);
  t.match(mismatched.body.issue[0].diagnostics, /^Bundle\.entry\[2\]: .*does not match/);
  t.same(
    mismatched.body.issue[0].expression,
    ['Bundle.entry[2]', 'Patient.id'],
    'the entry, then the element within it',
  );

  t.equal(await historyTotal(base, 'Patient'), 1, 'only the Patient from before remains');
  t.equal(await historyTotal(base, 'Encounter'), 0, 'no Encounter remains');
  const p1 = await fhir(base, 'GET', 'Patient/p1');
  t.equal(p1.body.meta.versionId, '1');
  t.equal(p1.body.gender, undefined);
});

t.test('malformed bundles are refused with 400', async (t) => {
  const { base } = await startTestServer(t);
  const notBundle = await fhir(base, 'POST', '', patient);
  t.equal(notBundle.status, 400);
  t.equal(notBundle.body.resourceType, 'OperationOutcome');

  const collection = await send(base, 'collection', []);
  t.equal(collection.status, 400);
  t.equal(collection.body.issue[0].code, 'not-supported');

  const noRequest = await send(base, 'transaction', [
    { resource: patient, request: { method: 'POST', url: 'Patient' } },
    { resource: patient, request: { method: 'POST', url: 'Patient' } },
    { resource: patient, request: { method: 'POST', url: 'Patient' } },
    { resource: patient },
  ]);
  t.equal(noRequest.status, 400);
  t.same(noRequest.body.issue[0].expression, ['Bundle.entry[3].request']);
  t.match(noRequest.body.issue[0].diagnostics, /Bundle\.entry\[3\]\.request/);

  const placeholderUrl = await send(base, 'transaction', [
    { resource: patient, request: { method: 'PUT', url: `urn:uuid:${randomUUID()}` } },
  ]);
  t.equal(placeholderUrl.status, 400);
  t.same(placeholderUrl.body.issue[0].expression, ['Bundle.entry[0].request.url']);

  const dangling = await send(base, 'transaction', [
    {
      resource: { ...patient, link: [{ other: { reference: urn() }, type: 'seealso' }] },
      request: { method: 'POST', url: 'Patient' },
    },
  ]);
  t.equal(dangling.status, 400, 'a placeholder no entry defines');
  t.match(dangling.body.issue[0].diagnostics, /not the fullUrl of any entry/);

  const many = Array.from({ length: 1001 }, () => ({
    request: { method: 'GET', url: 'Patient/x' },
  }));
  const tooMany = await send(base, 'batch', many);
  t.equal(tooMany.status, 400);
  t.equal(tooMany.body.issue[0].code, 'too-costly');
  t.equal(await historyTotal(base, 'Patient'), 0, 'nothing was written');
});

t.test('batch honours Prefer: return=minimal and return=OperationOutcome', async (t) => {
  const { base } = await startTestServer(t);
  const entries = [
    { resource: patient, request: { method: 'POST', url: 'Patient' } },
    { resource: { ...patient, id: 'p1' }, request: { method: 'PUT', url: 'Patient/p1' } },
  ];
  const minimal = await send(base, 'batch', entries, {
    prefer: 'return=minimal',
  });
  t.equal(minimal.status, 200);
  for (const entry of minimal.body.entry) {
    t.notOk(entry.resource, 'no resource with return=minimal');
    t.match(entry.response, { status: '201 Created', etag: 'W/"1"', location: /\/_history\/1$/ });
    t.ok(entry.response.lastModified);
  }

  const outcome = await send(`${base}/`, 'batch', entries, {
    prefer: 'return=OperationOutcome',
  });
  t.equal(outcome.status, 200, 'POST /fhir/ serves bundles too');
  const [created, updated] = outcome.body.entry;
  t.notOk(created.resource);
  t.equal(created.response.outcome.issue[0].severity, 'information');
  t.match(created.response.outcome.issue[0].diagnostics, /^Created Patient\//);
  t.equal(updated.response.status, '200 OK');
  t.equal(updated.response.outcome.issue[0].diagnostics, 'Updated Patient/p1');
});

t.test('transaction refuses duplicate fullUrls and a resource changed twice', async (t) => {
  const { base } = await startTestServer(t);
  const same = urn();
  const duplicate = await send(base, 'transaction', [
    { fullUrl: same, resource: patient, request: { method: 'POST', url: 'Patient' } },
    { fullUrl: same, resource: patient, request: { method: 'POST', url: 'Patient' } },
  ]);
  t.equal(duplicate.status, 400);
  t.equal(duplicate.body.issue[0].code, 'duplicate');
  t.same(duplicate.body.issue[0].expression, ['Bundle.entry[1].fullUrl']);

  const twice = await send(base, 'transaction', [
    { resource: { ...patient, id: 'p1' }, request: { method: 'PUT', url: 'Patient/p1' } },
    { request: { method: 'DELETE', url: 'Patient/p1' } },
  ]);
  t.equal(twice.status, 400);
  t.match(twice.body.issue[0].diagnostics, /both change Patient\/p1/);
  t.equal(await historyTotal(base, 'Patient'), 0, 'nothing was written');
});
