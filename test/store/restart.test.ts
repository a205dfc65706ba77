import t, { type Test } from 'tap';
import { encounter } from '../fixtures.js';
import { fhir, startServer, testConfig } from '../helpers.js';

/** Data written, server closed, a new server built on the same database: still there. */
async function restartKeepsData(t: Test, forcePglite: boolean) {
  const config = await testConfig(t, {}, forcePglite);
  const first = await startServer(t, config);
  const created = await fhir(first.base, 'POST', 'Patient', {
    resourceType: 'Patient',
    name: [{ family: 'Persistent' }],
  });
  await fhir(first.base, 'PUT', `Patient/${created.body.id}`, {
    resourceType: 'Patient',
    id: created.body.id,
    name: [{ family: 'Persisted' }],
  });
  await first.close();

  const second = await startServer(t, { ...config });
  const read = await fhir(second.base, 'GET', `Patient/${created.body.id}`);
  t.equal(read.status, 200);
  t.equal(read.body.name[0].family, 'Persisted');
  t.equal(read.body.meta.versionId, '2');
  const history = await fhir(second.base, 'GET', `Patient/${created.body.id}/_history`);
  t.equal(history.body.total, 2);
  const next = await fhir(second.base, 'PUT', `Patient/${created.body.id}`, {
    resourceType: 'Patient',
    id: created.body.id,
  });
  t.equal(next.body.meta.versionId, '3', 'versioning continues after the restart');
}

t.test('data survives a restart on the configured database', (t) => restartKeepsData(t, false));

// CI runs the suite on real Postgres; this keeps the embedded default honest there too.
t.test('embedded PGlite smoke test: CRUD and data kept across a restart', async (t) => {
  await restartKeepsData(t, true);
  const config = await testConfig(t, {}, true);
  const { base } = await startServer(t, config);
  const created = await fhir(
    base,
    'POST',
    'Encounter',
    encounter('Patient/p1', { status: 'planned' }),
  );
  t.equal(created.status, 201);
  t.equal((await fhir(base, 'DELETE', `Encounter/${created.body.id}`)).status, 204);
  t.equal((await fhir(base, 'GET', `Encounter/${created.body.id}`)).status, 410);
  const stale = await fhir(
    base,
    'PUT',
    `Encounter/${created.body.id}`,
    {
      ...encounter('Patient/p1'),
      id: created.body.id,
    },
    { 'if-match': 'W/"1"' },
  );
  t.equal(stale.status, 412, 'SQL errors and conflicts leave PGlite usable');
  t.equal((await fhir(base, 'GET', `Encounter/${created.body.id}/_history`)).body.total, 2);
});
