import t from 'tap';
import { RESOURCE_TYPES } from '../../src/fhir/resource-types.js';
import { validResources } from '../fixtures.js';
import { fhir, startTestServer } from '../helpers.js';

const patient = { resourceType: 'Patient', name: [{ family: 'Chalmers', given: ['Peter'] }] };

t.test(
  'create assigns id, version 1 and answers 201 with Location, ETag, Last-Modified',
  async (t) => {
    const { base } = await startTestServer(t);
    const res = await fhir(base, 'POST', 'Patient', { ...patient, id: 'client-chosen' });
    t.equal(res.status, 201);
    t.match(res.headers.get('content-type'), /^application\/fhir\+json/);
    t.not(res.body.id, 'client-chosen', 'a create ignores the id in the body');
    t.match(res.body.id, /^[A-Za-z0-9\-.]{1,64}$/);
    t.equal(res.body.meta.versionId, '1');
    t.ok(Date.parse(res.body.meta.lastUpdated));
    t.equal(res.headers.get('location'), `${base}/Patient/${res.body.id}/_history/1`);
    t.equal(res.headers.get('etag'), 'W/"1"');
    t.equal(res.headers.get('last-modified'), new Date(res.body.meta.lastUpdated).toUTCString());
    t.same(res.body.name, patient.name);
  },
);

t.test('read returns the current version with ETag', async (t) => {
  const { base } = await startTestServer(t);
  const created = await fhir(base, 'POST', 'Patient', patient);
  const read = await fhir(base, 'GET', `Patient/${created.body.id}`);
  t.equal(read.status, 200);
  t.same(read.body, created.body);
  t.equal(read.headers.get('etag'), 'W/"1"');
  const again = await fhir(base, 'GET', `Patient/${created.body.id}`, undefined, {
    'if-none-match': 'W/"1"',
  });
  t.equal(again.status, 304, 'If-None-Match on the current version is 304');
});

t.test('server sets meta.versionId and meta.lastUpdated, keeping the client meta', async (t) => {
  const { base } = await startTestServer(t);
  const res = await fhir(base, 'POST', 'Patient', {
    ...patient,
    meta: { versionId: '99', lastUpdated: '2001-01-01T00:00:00Z', tag: [{ code: 'x' }] },
  });
  t.equal(res.body.meta.versionId, '1');
  t.not(res.body.meta.lastUpdated, '2001-01-01T00:00:00Z');
  t.same(res.body.meta.tag, [{ code: 'x' }]);
});

t.test('update bumps the version; vread returns each version', async (t) => {
  const { base } = await startTestServer(t);
  const created = await fhir(base, 'POST', 'Patient', patient);
  const id = created.body.id;
  const updated = await fhir(base, 'PUT', `Patient/${id}`, { ...patient, id, gender: 'male' });
  t.equal(updated.status, 200);
  t.equal(updated.body.meta.versionId, '2');
  t.equal(updated.headers.get('etag'), 'W/"2"');
  t.equal(updated.body.gender, 'male');
  const v1 = await fhir(base, 'GET', `Patient/${id}/_history/1`);
  t.equal(v1.status, 200);
  t.equal(v1.body.gender, undefined);
  t.equal(v1.headers.get('etag'), 'W/"1"');
  const v2 = await fhir(base, 'GET', `Patient/${id}/_history/2`);
  t.equal(v2.body.gender, 'male');
  t.equal((await fhir(base, 'GET', `Patient/${id}/_history/3`)).status, 404);
  t.equal((await fhir(base, 'GET', `Patient/${id}/_history/abc`)).status, 404);
});

t.test('update of an unknown id creates it with the client id (201)', async (t) => {
  const { base } = await startTestServer(t);
  const res = await fhir(base, 'PUT', 'Patient/pat-1', { ...patient, id: 'pat-1' });
  t.equal(res.status, 201);
  t.equal(res.body.id, 'pat-1');
  t.equal(res.body.meta.versionId, '1');
  t.equal(res.headers.get('location'), `${base}/Patient/pat-1/_history/1`);
  t.equal((await fhir(base, 'GET', 'Patient/pat-1')).status, 200);
});

t.test('update rejects a body whose id is missing or differs from the URL (400)', async (t) => {
  const { base } = await startTestServer(t);
  const missing = await fhir(base, 'PUT', 'Patient/pat-2', patient);
  t.equal(missing.status, 400);
  t.equal(missing.body.resourceType, 'OperationOutcome');
  const differs = await fhir(base, 'PUT', 'Patient/pat-2', { ...patient, id: 'other' });
  t.equal(differs.status, 400);
  t.match(differs.body.issue[0].diagnostics, /does not match/);
  t.equal((await fhir(base, 'GET', 'Patient/pat-2')).status, 404, 'nothing was written');
});

t.test('a body resourceType different from the URL type is 400', async (t) => {
  const { base } = await startTestServer(t);
  const post = await fhir(base, 'POST', 'Patient', { resourceType: 'Observation' });
  t.equal(post.status, 400);
  t.equal(post.body.issue[0].expression[0], 'resourceType');
  const put = await fhir(base, 'PUT', 'Patient/x1', { resourceType: 'Encounter', id: 'x1' });
  t.equal(put.status, 400);
  for (const body of ['[]', '"text"', '42', '{"name":[]}']) {
    const res = await fhir(base, 'POST', 'Patient', body);
    t.equal(res.status, 400, `body ${body}`);
    t.equal(res.body.resourceType, 'OperationOutcome');
  }
  t.equal(
    (await fhir(base, 'POST', 'Patient', { resourceType: 'Patient', meta: 'x' })).status,
    400,
  );
});

t.test(
  'delete: 204, then read is 410, history keeps the deletion, delete again is 204',
  async (t) => {
    const { base } = await startTestServer(t);
    const created = await fhir(base, 'POST', 'Patient', patient);
    const id = created.body.id;
    const del = await fhir(base, 'DELETE', `Patient/${id}`);
    t.equal(del.status, 204);
    t.equal(del.text, '');
    const read = await fhir(base, 'GET', `Patient/${id}`);
    t.equal(read.status, 410);
    t.equal(read.body.issue[0].code, 'deleted');
    t.equal((await fhir(base, 'GET', `Patient/${id}/_history/1`)).status, 200, 'old versions stay');
    t.equal(
      (await fhir(base, 'GET', `Patient/${id}/_history/2`)).status,
      410,
      'the deletion version',
    );
    const history = await fhir(base, 'GET', `Patient/${id}/_history`);
    t.equal(history.body.total, 2);
    t.equal(history.body.entry[0].request.method, 'DELETE');
    t.notOk(history.body.entry[0].resource);
    t.equal((await fhir(base, 'DELETE', `Patient/${id}`)).status, 204, 'idempotent');
    t.equal((await fhir(base, 'GET', `Patient/${id}/_history`)).body.total, 2, 'no new version');
  },
);

t.test('delete of a resource that never existed is 404', async (t) => {
  const { base } = await startTestServer(t);
  const res = await fhir(base, 'DELETE', 'Patient/never');
  t.equal(res.status, 404);
  t.equal(res.body.resourceType, 'OperationOutcome');
});

t.test('update after delete brings the resource back as a new version (201)', async (t) => {
  const { base } = await startTestServer(t);
  await fhir(base, 'PUT', 'Patient/lazarus', { ...patient, id: 'lazarus' });
  await fhir(base, 'DELETE', 'Patient/lazarus');
  const res = await fhir(base, 'PUT', 'Patient/lazarus', { ...patient, id: 'lazarus' });
  t.equal(res.status, 201);
  t.equal(res.body.meta.versionId, '3');
  t.equal((await fhir(base, 'GET', 'Patient/lazarus')).status, 200);
});

t.test(
  'read of an unknown id is 404; of an unknown type is 404; a malformed id is 400',
  async (t) => {
    const { base } = await startTestServer(t);
    const missing = await fhir(base, 'GET', 'Patient/nobody');
    t.equal(missing.status, 404);
    t.equal(missing.body.issue[0].code, 'not-found');
    const type = await fhir(base, 'GET', 'Spaceship/1');
    t.equal(type.status, 404);
    t.equal(type.body.resourceType, 'OperationOutcome');
    t.equal((await fhir(base, 'POST', 'Spaceship', { resourceType: 'Spaceship' })).status, 404);
    t.equal((await fhir(base, 'GET', `Patient/${'x'.repeat(65)}`)).status, 400);
    t.equal((await fhir(base, 'GET', 'Patient/bad_id')).status, 400);
  },
);

t.test('AuditEvent is read-only over REST: create, update, delete are 405', async (t) => {
  const { base } = await startTestServer(t);
  const event = { resourceType: 'AuditEvent', id: 'a1' };
  const post = await fhir(base, 'POST', 'AuditEvent', event);
  t.equal(post.status, 405);
  t.equal(post.body.resourceType, 'OperationOutcome');
  t.equal((await fhir(base, 'PUT', 'AuditEvent/a1', event)).status, 405);
  t.equal((await fhir(base, 'DELETE', 'AuditEvent/a1')).status, 405);
  t.equal((await fhir(base, 'GET', 'AuditEvent/_history')).status, 200, 'history is a read');
});

t.test('methods a URL does not serve are 405 with Allow', async (t) => {
  const { base } = await startTestServer(t);
  const patch = await fhir(base, 'PATCH', 'Patient/1', { resourceType: 'Patient' });
  t.equal(patch.status, 405);
  t.equal(patch.headers.get('allow'), 'GET, PUT, DELETE');
  t.equal((await fhir(base, 'POST', 'Patient/1', { resourceType: 'Patient' })).status, 405);
  t.equal((await fhir(base, 'PATCH', 'Patient', { resourceType: 'Patient' })).status, 405);
});

t.test('every supported type supports the full CRUD cycle', async (t) => {
  const { base } = await startTestServer(t);
  // Every type the server lets clients write, straight from the table the routes use.
  const types = [...RESOURCE_TYPES]
    .filter(([, allowed]) => allowed.includes('create'))
    .map(([type]) => type);
  t.equal(types.length, 30);
  for (const type of types) {
    const created = await fhir(base, 'POST', type, validResources[type]!());
    t.equal(created.status, 201, `${type} create`);
    const id = created.body.id;
    t.equal(
      (await fhir(base, 'PUT', `${type}/${id}`, { ...validResources[type]!(), id })).status,
      200,
    );
    t.equal((await fhir(base, 'GET', `${type}/${id}`)).body.meta.versionId, '2');
    t.equal((await fhir(base, 'DELETE', `${type}/${id}`)).status, 204);
    t.equal((await fhir(base, 'GET', `${type}/${id}`)).status, 410);
  }
});
