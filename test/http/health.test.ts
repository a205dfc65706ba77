import t from 'tap';
import { fhir, startTestServer } from '../helpers.js';

t.test('healthz answers while the process is alive', async (t) => {
  const { base } = await startTestServer(t);
  const root = base.replace(/\/fhir$/, '');
  const res = await fhir(root, 'GET', 'healthz');
  t.equal(res.status, 200);
  t.equal(res.body.status, 'ok');
});

t.test('readyz is 200 with a reachable store and 503 when the store is gone', async (t) => {
  const { base, app } = await startTestServer(t);
  const root = base.replace(/\/fhir$/, '');
  t.equal((await fhir(root, 'GET', 'readyz')).status, 200);
  await app.store.close(); // the database connection is gone from under the server
  const down = await fhir(root, 'GET', 'readyz');
  t.equal(down.status, 503);
  t.equal(down.body.resourceType, 'OperationOutcome');
  t.equal((await fhir(root, 'GET', 'healthz')).status, 200, 'still alive');
  const read = await fhir(base, 'GET', 'Patient/x');
  t.equal(read.status, 500, 'a store failure is a 500 OperationOutcome, not a crash');
  t.equal(read.body.resourceType, 'OperationOutcome');
  t.notMatch(read.text, /pool|pglite|stack/i, 'no internals leak');
});
