/**
 * The side doors into the US Core types: Group chains and `_has`, wildcard and iterated
 * includes, system history, batch GETs, conditional writes, and memberships (CareTeam, Group)
 * that must grant nothing. p1 is dr1's patient; p2 is nobody's; `cohort` lists both.
 */
import t from 'tap';
import { fhir, startTestServer, testToken } from '../helpers.js';
import { encounter, patient, practitioner } from '../fixtures.js';
import * as usCore from '../fixtures/us-core.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const UPSTREAM = process.env.TEST_STORE === 'healthlake';
const as = (claims: Json) => ({ authorization: `Bearer ${testToken(claims)}` });
const PATIENT_P1 = as({ scope: 'patient/*.rs', patient: 'p1', role: 'PATIENT' });
const PROVIDER_DR1 = as({ scope: 'user/*.cruds', role: 'PROVIDER', fhirUser: 'Practitioner/dr1' });
const PROVIDER_DR2 = as({ scope: 'user/*.cruds', role: 'PROVIDER', fhirUser: 'Practitioner/dr2' });

async function seed(base: string) {
  const put = async (resource: Json) => {
    const res = await fhir(base, 'PUT', `${resource.resourceType}/${resource.id}`, resource);
    if (res.status >= 300) throw new Error(`seeding ${resource.id}: ${res.text}`);
  };
  await put({ ...practitioner(), id: 'dr1' });
  await put({ ...practitioner(), id: 'dr2' });
  await put({ ...patient(), id: 'p1', generalPractitioner: [{ reference: 'Practitioner/dr1' }] });
  await put({ ...patient({ name: [{ family: 'Bravo' }] }), id: 'p2' });
  for (const p of ['p1', 'p2']) {
    await put({ ...encounter(`Patient/${p}`), id: `enc-${p}` });
    await put({ ...usCore.conditionProblem(`Patient/${p}`), id: `cond-${p}` });
    await put({ ...usCore.implantableDevice(`Patient/${p}`), id: `dev-${p}` });
  }
  await put({ ...usCore.group(['Patient/p1', 'Patient/p2']), id: 'cohort' });
  await put({ ...encounter('Group/cohort'), id: 'enc-cohort' });
}

function resourcesIn(body: Json | undefined): Json[] {
  if (body?.resourceType !== 'Bundle') return [];
  return (body.entry ?? []).flatMap((e: Json) =>
    e.resource ? [e.resource, ...resourcesIn(e.resource)] : [],
  );
}
const ids = (body: Json | undefined) =>
  resourcesIn(body)
    .map((r) => `${r.resourceType}/${r.id}`)
    .sort();
const leaks = (body: Json | undefined) =>
  ids(body).filter((id) => /(-p2|cohort)$/.test(id) || id === 'Patient/p2');

t.test('Group chains, _has and includes reach nothing outside the grant', async (t) => {
  const { base } = await startTestServer(t);
  await seed(base);
  for (const [name, headers] of [
    ['PATIENT p1', PATIENT_P1],
    ['PROVIDER assigned to p1', PROVIDER_DR1],
  ] as const) {
    await t.test(name, async (t) => {
      const get = (path: string) => fhir(base, 'GET', path, undefined, headers);
      for (const path of [
        'Patient?_has:Group:member:_id=cohort',
        'Encounter?subject:Group.member=Patient/p2',
        'Encounter?subject:Group._id=cohort',
        'Group?member=Patient/p1',
        'Patient?_revinclude=Group:member',
        'Encounter?_include=Encounter:subject&_include:iterate=Group:member',
        'Condition?_include=*&_revinclude=Provenance:target',
        'Encounter?_include=*&_include:iterate=*',
        'Device?_include=Device:patient&_revinclude:iterate=Condition:subject',
        'Group?_summary=count',
        '_history?_count=500',
        'Group/_history',
      ]) {
        const res = await get(path);
        if (UPSTREAM && res.status === 403) continue; // chains into a partial grant (README)
        t.ok(res.status === 200 || res.status === 403, `${path}: ${res.status}`);
        t.same(leaks(res.body), [], `${path}: nothing of p2 or the cohort`);
        t.notOk(res.body?.total > 0 && path.startsWith('Group?'), `${path}: counts nothing`);
      }
      t.equal((await get('Group/cohort/_history')).status, 404, "the cohort's history");
      const batch = await fhir(
        base,
        'POST',
        '',
        {
          resourceType: 'Bundle',
          type: 'batch',
          entry: [
            'Condition/cond-p2',
            'Group/cohort',
            'Device?patient=Patient/p2',
            'Encounter/enc-cohort',
          ].map((url) => ({ request: { method: 'GET', url } })),
        },
        headers,
      );
      t.same(leaks(batch.body), [], 'batch GETs: nothing of p2 or the cohort');
    });
  }
});

t.test('conditional writes and memberships grant nothing', async (t) => {
  const { base } = await startTestServer(t);
  await seed(base);
  const del = await fhir(base, 'DELETE', 'Condition?patient=Patient/p2', undefined, PROVIDER_DR1);
  t.not(del.status, 204, 'a conditional delete naming p2 deletes nothing');
  t.equal((await fhir(base, 'GET', 'Condition/cond-p2')).status, 200, "p2's Condition is there");
  const upd = await fhir(
    base,
    'PUT',
    'Condition?_id=cond-p2',
    { ...usCore.conditionProblem('Patient/p1'), id: 'cond-p2' },
    PROVIDER_DR1,
  );
  t.equal(upd.status, 403, "a conditional update can't take p2's Condition");
  // A CareTeam (or Group) naming dr2 is no assignment: dr2 still sees nothing of p1.
  const team = usCore.careTeam('Patient/p1', {
    participant: [{ member: { reference: 'Practitioner/dr2' } }],
  });
  t.equal((await fhir(base, 'POST', 'CareTeam', team, PROVIDER_DR1)).status, 201, 'CareTeam');
  t.equal(
    (await fhir(base, 'GET', 'Condition/cond-p1', undefined, PROVIDER_DR2)).status,
    404,
    'a CareTeam membership opens nothing',
  );
  const cohort = await fhir(
    base,
    'POST',
    '',
    {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          request: { method: 'POST', url: 'Group' },
          resource: usCore.group(['Patient/p1', 'Practitioner/dr1']),
        },
      ],
    },
    PROVIDER_DR1,
  );
  t.equal(cohort.status, 403, 'nor may an assigned PROVIDER write a Group in a transaction');
  const backend = as({ scope: 'system/Group.rs' });
  const members = await fhir(base, 'GET', 'Group?_include=Group:member', undefined, backend);
  t.same(ids(members.body), ['Group/cohort'], 'system/Group.rs includes no Patient');
});

t.test("reading a Group is audited under each member's compartment", async (t) => {
  const { base } = await startTestServer(t);
  await seed(base);
  const backend = as({ scope: 'system/Group.rs' });
  t.equal((await fhir(base, 'GET', 'Group/cohort', undefined, backend)).status, 200);
  for (const p of ['p1', 'p2']) {
    const events = await fhir(base, 'GET', `AuditEvent?patient=Patient/${p}&entity=Group/cohort`);
    t.ok(events.body?.entry?.length, `AuditEvent?patient=${p} finds the read of the cohort`);
  }
});

t.test("a PROVIDER can't put p1's record into p2's compartment by a second link", async (t) => {
  const { base } = await startTestServer(t);
  await seed(base);
  const p2 = { reference: 'Patient/p2' };
  for (const [type, body] of [
    ['Condition', usCore.conditionProblem('Patient/p1', { asserter: p2 })],
    ['AllergyIntolerance', usCore.allergyIntolerance('Patient/p1', { recorder: p2 })],
    ['CareTeam', usCore.careTeam('Patient/p1', { participant: [{ member: p2 }] })],
    ['Procedure', usCore.procedure('Patient/p1', { performer: [{ actor: p2 }] })],
    ['QuestionnaireResponse', usCore.questionnaireResponse('Patient/p1', { author: p2 })],
  ] as const) {
    const res = await fhir(base, 'POST', type, body, PROVIDER_DR1);
    t.equal(res.status, 403, `${type} naming p2 beside p1`);
  }
});

t.test('_has is held to the scope of the type it reaches', async (t) => {
  const { base } = await startTestServer(t);
  await seed(base);
  await fhir(base, 'PUT', 'Observation/smoke-p1', {
    ...usCore.smokingStatus('Patient/p1'),
    id: 'smoke-p1',
  });
  const noCondition = as({ scope: 'patient/Patient.rs', patient: 'p1', role: 'PATIENT' });
  const has = await fhir(
    base,
    'GET',
    'Patient?_has:Condition:patient:code=44054006',
    undefined,
    noCondition,
  );
  t.equal(has.status, 403, '_has into Condition without a Condition scope');
  const labsOnly = as({
    scope: 'patient/Patient.rs patient/Observation.rs?category=laboratory',
    patient: 'p1',
    role: 'PATIENT',
  });
  const social = await fhir(
    base,
    'GET',
    'Patient?_has:Observation:patient:category=social-history',
    undefined,
    labsOnly,
  );
  if (UPSTREAM) t.equal(social.status, 403, 'HealthLake refuses a _has into a partial grant');
  else t.same(ids(social.body), [], "_has can't test Observations outside the category filter");
  const admin = await fhir(base, 'GET', 'Patient?_has:Observation:patient:category=social-history');
  t.same(ids(admin.body), ['Patient/p1'], 'the same _has finds p1 for an unrestricted caller');
});
