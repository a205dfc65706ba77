import t, { type Test } from 'tap';
import { fhir, startTestServer, testToken } from '../helpers.js';
import { encounter, patient } from '../fixtures.js';

const as = (claims: Record<string, unknown>) => ({ authorization: `Bearer ${testToken(claims)}` });

async function expect403(t: Test, res: Awaited<ReturnType<typeof fhir>>, what: string) {
  t.equal(res.status, 403, what);
  t.equal(res.body.resourceType, 'OperationOutcome');
  t.equal(res.body.issue[0].code, 'forbidden');
  t.match(res.headers.get('www-authenticate'), /error="insufficient_scope"/);
}

t.test('scopes decide the interactions: read-only scope cannot write', async (t) => {
  const { base } = await startTestServer(t);
  await fhir(base, 'PUT', 'Patient/p1', { ...patient(), id: 'p1' });
  const reader = as({ scope: 'system/Patient.read' });
  t.equal((await fhir(base, 'GET', 'Patient/p1', undefined, reader)).status, 200);
  t.equal(
    (await fhir(base, 'GET', 'Patient?gender=male', undefined, reader)).status,
    200,
    'v1 read includes search',
  );
  await expect403(t, await fhir(base, 'POST', 'Patient', patient(), reader), 'create');
  await expect403(
    t,
    await fhir(base, 'PUT', 'Patient/p1', { ...patient(), id: 'p1' }, reader),
    'update',
  );
  await expect403(t, await fhir(base, 'DELETE', 'Patient/p1', undefined, reader), 'delete');
  await expect403(
    t,
    await fhir(base, 'GET', 'Encounter?patient=p1', undefined, reader),
    'another type',
  );
  t.equal((await fhir(base, 'GET', 'Patient/p1/_history')).body.total, 1, 'nothing was written');
});

t.test('v2 letters map to interactions: .rs reads and searches, .c only creates', async (t) => {
  const { base } = await startTestServer(t);
  const creator = as({ scope: 'system/Patient.c' });
  const created = await fhir(base, 'POST', 'Patient', patient(), creator);
  t.equal(created.status, 201);
  await expect403(
    t,
    await fhir(base, 'GET', `Patient/${created.body.id}`, undefined, creator),
    'read without r',
  );
  const searcher = as({ scope: 'system/Patient.s' });
  t.equal((await fhir(base, 'GET', 'Patient', undefined, searcher)).status, 200);
  await expect403(
    t,
    await fhir(base, 'GET', `Patient/${created.body.id}`, undefined, searcher),
    'read with only s',
  );
});

t.test('_include and _revinclude need read access to the types they bring in', async (t) => {
  const { base } = await startTestServer(t);
  const scoped = as({ scope: 'system/Encounter.rs' });
  t.equal((await fhir(base, 'GET', 'Encounter', undefined, scoped)).status, 200);
  await expect403(
    t,
    await fhir(base, 'GET', 'Encounter?_include=Encounter:subject', undefined, scoped),
    'include',
  );
  await expect403(
    t,
    await fhir(base, 'GET', 'Encounter?_revinclude=Provenance:target', undefined, scoped),
    'revinclude',
  );
  const wider = as({ scope: 'system/Encounter.rs system/Patient.rs system/Group.rs' });
  const res = await fhir(
    base,
    'GET',
    'Encounter?_include=Encounter:subject:Patient',
    undefined,
    wider,
  );
  t.equal(res.status, 200);
});

t.test('an untyped _include needs one readable target, and brings only those', async (t) => {
  const { base } = await startTestServer(t);
  await fhir(base, 'PUT', 'Patient/p1', { resourceType: 'Patient', id: 'p1' });
  await fhir(base, 'PUT', 'Group/g1', {
    resourceType: 'Group',
    id: 'g1',
    type: 'person',
    actual: true,
  });
  await fhir(base, 'PUT', 'Encounter/e1', { ...encounter('Patient/p1'), id: 'e1' });
  await fhir(base, 'PUT', 'Encounter/e2', { ...encounter('Group/g1'), id: 'e2' });
  // Encounter.subject is Patient or Group: a token for Patients but not Groups.
  const patientsOnly = as({ scope: 'system/Encounter.rs system/Patient.rs' });
  const res = await fhir(
    base,
    'GET',
    'Encounter?_include=Encounter:subject',
    undefined,
    patientsOnly,
  );
  t.equal(res.status, 200);
  const included = res.body.entry
    .filter((e: { search: { mode: string } }) => e.search.mode === 'include')
    .map((e: { resource: { resourceType: string } }) => e.resource.resourceType);
  t.same(included, ['Patient'], 'the Group subject is left out');
  await expect403(
    t,
    await fhir(base, 'GET', 'Encounter?_include=Encounter:subject:Group', undefined, patientsOnly),
    'naming the unreadable target',
  );
});

t.test('a role limits even system scopes: a receptionist reads no clinical data', async (t) => {
  const { base } = await startTestServer(t);
  await fhir(base, 'PUT', 'Encounter/e1', { ...encounter('Patient/p1'), id: 'e1' });
  const receptionist = as({ scope: 'system/*.*', role: 'RECEPTIONIST' });
  await expect403(
    t,
    await fhir(base, 'GET', 'Encounter/e1', undefined, receptionist),
    'clinical read',
  );
  const admin = as({ scope: 'user/*.*', role: 'ADMIN', fhirUser: 'Practitioner/admin1' });
  t.equal(
    (await fhir(base, 'GET', 'Encounter/e1', undefined, admin)).status,
    200,
    'ADMIN reads all',
  );
  t.equal(
    (await fhir(base, 'GET', 'AuditEvent', undefined, admin)).status,
    200,
    'ADMIN reads audit',
  );
});

t.test('AuditEvent: only ADMIN or system scopes read it', async (t) => {
  const { base } = await startTestServer(t);
  t.equal((await fhir(base, 'GET', 'AuditEvent')).status, 200, 'system token');
  const provider = as({ scope: 'user/*.*', role: 'PROVIDER', fhirUser: 'Practitioner/dr1' });
  await expect403(t, await fhir(base, 'GET', 'AuditEvent', undefined, provider), 'provider');
});

t.test('batch entries are authorized one by one', async (t) => {
  const { base } = await startTestServer(t);
  await fhir(base, 'PUT', 'Patient/p1', { ...patient(), id: 'p1' });
  const res = await fhir(
    base,
    'POST',
    '',
    {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        { request: { method: 'GET', url: 'Patient/p1' } },
        { resource: patient(), request: { method: 'POST', url: 'Patient' } },
      ],
    },
    as({ scope: 'system/Patient.r' }),
  );
  t.equal(res.status, 200);
  t.equal(res.body.entry[0].response.status, '200 OK');
  t.match(res.body.entry[1].response.status, /^403/);
  t.equal(
    (await fhir(base, 'GET', 'Patient/_history')).body.total,
    1,
    'the refused create wrote nothing',
  );
});

t.test('$validate is allowed to whoever may make the write it checks', async (t) => {
  const { base } = await startTestServer(t);
  await expect403(
    t,
    await fhir(base, 'POST', 'Patient/$validate', patient(), as({ scope: 'system/Patient.r' })),
    'reader',
  );
  t.equal(
    (await fhir(base, 'POST', 'Patient/$validate', patient(), as({ scope: 'system/Patient.c' })))
      .status,
    200,
  );
});
