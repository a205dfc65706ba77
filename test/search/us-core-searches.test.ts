/**
 * Every search US Core 5.0.1's server CapabilityStatement asks for (SHALL and SHOULD, from
 * src/rest/us-core-searches.ts), run as Inferno's kit runs them: each combination with values
 * matching p1's resource must find it and not p2's twin; every date parameter with a comparator
 * (ge to find, lt to miss), every token parameter as an OR-list with a code that matches nothing.
 * Then `_revinclude=Provenance:target` on every type and the `_include`s US Core names. Runs on
 * the store the suite runs on (PGlite, Postgres with DATABASE_URL, the HealthLake emulator).
 */
import t from 'tap';
import { searchParam } from '../../src/search/registry.js';
import { US_CORE_INCLUDES, US_CORE_SEARCHES } from '../../src/rest/us-core-searches.js';
import { fhir, startTestServer } from '../helpers.js';
import * as base from '../fixtures.js';
import * as f from '../fixtures/us-core.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** The resources of one patient: one per type, each with every element a search reads. */
function clinicalWorld(p: string): Json[] {
  const P = `Patient/${p}`;
  const enc = `Encounter/enc-${p}`;
  const concept = (system: string, code: string) => ({ coding: [{ system, code }] });
  return [
    {
      ...base.encounter(P),
      id: `enc-${p}`,
      identifier: [{ system: 'urn:x:enc', value: `v-${p}` }],
    },
    { ...f.allergyIntolerance(P), id: `ai-${p}` },
    { ...f.carePlan(P), id: `cp-${p}` },
    { ...f.careTeam(P), id: `ct-${p}` },
    {
      ...f.conditionProblem(P),
      id: `cond-${p}`,
      encounter: { reference: enc },
      clinicalStatus: concept(
        'http://terminology.hl7.org/CodeSystem/condition-clinical',
        'resolved',
      ),
      abatementDateTime: '2024-02-01',
    },
    { ...f.implantableDevice(P), id: `dev-${p}` },
    { ...f.diagnosticReportLab(P), id: `dr-${p}` },
    {
      ...base.documentReference(P),
      id: `doc-${p}`,
      context: { period: { start: '2024-01-10', end: '2024-01-10' } },
    },
    {
      ...f.goal(P),
      id: `goal-${p}`,
      description: { ...concept('http://snomed.info/sct', '289169006'), text: 'Lose weight' },
    },
    { ...f.immunization(P), id: `imm-${p}` },
    {
      ...base.medicationRequest(P),
      id: `mr-${p}`,
      medicationCodeableConcept: undefined,
      medicationReference: { reference: 'Medication/med1' },
      encounter: { reference: enc },
    },
    { ...f.labObservation(P), id: `obs-${p}` },
    { ...f.procedure(P), id: `proc-${p}` },
    { ...f.questionnaireResponse(P), id: `qr-${p}` },
    {
      ...base.relatedPerson(P),
      id: `rp-${p}`,
      name: [{ family: p === 'p1' ? 'Chalmers' : 'Bravo', given: ['Jane'] }],
    },
    { ...f.serviceRequest(P), id: `sr-${p}` },
  ];
}

const DIRECTORY: Json[] = [
  { ...base.practitioner(), id: 'dr1' },
  { ...base.organization(), id: 'org1', address: [{ city: 'Springfield', state: 'IL' }] },
  { ...base.medication(), id: 'med1' },
  { ...f.location(), id: 'loc1' },
  { ...f.endpoint(), id: 'ep1' },
  {
    ...base.practitionerRole(),
    id: 'role1',
    practitioner: { reference: 'Practitioner/dr1' },
    specialty: [{ coding: [{ system: 'http://nucc.org/provider-taxonomy', code: '207Q00000X' }] }],
    endpoint: [{ reference: 'Endpoint/ep1' }],
  },
];

const PATIENTS: Json[] = [
  { ...base.patient(), id: 'p1', identifier: [{ system: 'urn:x:mrn', value: 'mrn-1' }] },
  {
    ...base.patient({ name: [{ family: 'Bravo', given: ['Beth'] }], gender: 'female' }),
    id: 'p2',
    identifier: [{ system: 'urn:x:mrn', value: 'mrn-2' }],
    birthDate: '1990-05-05',
  },
];

/** A value of each parameter that p1's resource (or the one directory resource) matches. */
const VALUES: Record<string, Record<string, string>> = {
  AllergyIntolerance: { 'clinical-status': 'active' },
  CarePlan: { category: 'assess-plan', date: 'ge2024-01-01', status: 'active' },
  CareTeam: { status: 'active', role: '59058001' },
  Condition: {
    category: 'problem-list-item',
    'clinical-status': 'resolved',
    'onset-date': 'ge2023-01-01',
    'asserted-date': 'ge2024-01-05',
    'recorded-date': 'ge2024-01-10',
    'abatement-date': 'ge2024-02-01',
    code: 'http://snomed.info/sct|44054006',
    encounter: 'Encounter/enc-p1',
  },
  Device: { type: 'http://snomed.info/sct|468063009' },
  DiagnosticReport: {
    category: 'http://terminology.hl7.org/CodeSystem/v2-0074|LAB',
    code: 'http://loinc.org|24323-8',
    date: 'ge2024-01-10T00:00:00Z',
    status: 'final',
  },
  DocumentReference: {
    _id: 'doc-p1',
    category: 'clinical-note',
    date: 'ge2024-01-01',
    type: 'http://loinc.org|34133-9',
    status: 'current',
    period: 'ge2024-01-01',
  },
  Encounter: {
    _id: 'enc-p1',
    date: 'ge2024-01-01',
    identifier: 'urn:x:enc|v-p1',
    class: 'http://terminology.hl7.org/CodeSystem/v3-ActCode|VR',
    type: '185317003',
    status: 'finished',
  },
  Goal: { 'lifecycle-status': 'active', 'target-date': 'ge2024-07-01', description: '289169006' },
  Immunization: { date: 'ge2024-01-01', status: 'completed' },
  Location: {
    name: 'Telehealth Clinic',
    address: 'Boston',
    'address-city': 'Boston',
    'address-state': 'MA',
    'address-postalcode': '02101',
  },
  MedicationRequest: {
    intent: 'order',
    status: 'active',
    encounter: 'Encounter/enc-p1',
    authoredon: 'ge2024-01-01',
  },
  Observation: {
    category: 'http://terminology.hl7.org/CodeSystem/observation-category|laboratory',
    code: 'http://loinc.org|2339-0',
    date: 'ge2024-01-01',
    status: 'final',
  },
  Organization: { name: 'Telehealth', address: 'Springfield' },
  Patient: {
    _id: 'p1',
    identifier: 'urn:x:mrn|mrn-1',
    name: 'Chalmers',
    birthdate: 'ge1974-01-01',
    gender: 'male',
    family: 'Chalmers',
  },
  Practitioner: { name: 'Careful', identifier: 'http://hl7.org/fhir/sid/us-npi|9941339108' },
  PractitionerRole: {
    specialty: 'http://nucc.org/provider-taxonomy|207Q00000X',
    practitioner: 'Practitioner/dr1',
  },
  Procedure: { date: 'ge2024-01-01', code: '73761001', status: 'completed' },
  QuestionnaireResponse: {
    _id: 'qr-p1',
    questionnaire: 'http://example.org/Questionnaire/phq-2',
    status: 'completed',
    authored: 'ge2024-01-01',
  },
  RelatedPerson: { _id: 'rp-p1', name: 'Chalmers' },
  ServiceRequest: {
    _id: 'sr-p1',
    category: 'http://snomed.info/sct|108252007',
    code: 'http://loinc.org|24323-8',
    authored: 'ge2024-01-01',
    status: 'active',
  },
};

/** The one resource of each type the searches must find. */
const EXPECTED: Record<string, string> = {
  Location: 'loc1',
  Organization: 'org1',
  Practitioner: 'dr1',
  PractitionerRole: 'role1',
  Patient: 'p1',
};
const expectedId = (type: string) =>
  EXPECTED[type] ?? clinicalWorld('p1').find((r) => r.resourceType === type)!.id;

const valueOf = (type: string, param: string) =>
  param === 'patient' ? 'Patient/p1' : VALUES[type]?.[param];

async function seed(url: string) {
  const all = [...PATIENTS, ...DIRECTORY, ...clinicalWorld('p1'), ...clinicalWorld('p2')];
  for (const resource of all) {
    const json = JSON.parse(JSON.stringify(resource));
    const res = await fhir(url, 'PUT', `${json.resourceType}/${json.id}`, json);
    if (res.status >= 300) throw new Error(`seeding ${json.id}: ${res.text}`);
  }
  for (const resource of clinicalWorld('p1')) {
    const res = await fhir(url, 'PUT', `Provenance/prov-${resource.id}`, {
      ...base.provenance(`${resource.resourceType}/${resource.id}`),
      id: `prov-${resource.id}`,
    });
    if (res.status >= 300) throw new Error(`seeding provenance: ${res.text}`);
  }
}

const matchIds = (body: Json) =>
  (body?.entry ?? [])
    .filter((e: Json) => e.search?.mode !== 'include')
    .map((e: Json) => e.resource.id)
    .sort();
const includedIds = (body: Json) =>
  (body?.entry ?? [])
    .filter((e: Json) => e.search?.mode === 'include')
    .map((e: Json) => `${e.resource.resourceType}/${e.resource.id}`)
    .sort();

t.test('every US Core search has a value here and an indexed parameter', async (t) => {
  for (const [type, searches] of Object.entries(US_CORE_SEARCHES)) {
    for (const { params } of searches) {
      for (const param of params) {
        t.ok(valueOf(type, param), `${type}?${param} has a test value`);
        t.ok(searchParam(type, param), `${type}?${param} is indexed`);
      }
    }
  }
});

t.test('every SHALL and SHOULD search of US Core finds what it should', async (t) => {
  const { base: url } = await startTestServer(t);
  await seed(url);
  const search = async (type: string, query: [string, string][]) => {
    const res = await fhir(url, 'GET', `${type}?${new URLSearchParams(query)}`);
    if (res.status !== 200) t.fail(`${type}?${new URLSearchParams(query)}: ${res.text}`);
    return matchIds(res.body);
  };
  for (const [type, searches] of Object.entries(US_CORE_SEARCHES)) {
    const want = [expectedId(type)];
    for (const { params, expectation } of searches) {
      const query = params.map((p) => [p, valueOf(type, p)!] as [string, string]);
      const label = `${expectation} ${type}?${params.join('&')}`;
      t.same(await search(type, query), want, label);
      for (const [i, param] of params.entries()) {
        const def = searchParam(type, param)!;
        const vary = (value: string) => query.map((q, j) => (j === i ? [q[0], value] : q));
        if (def.type === 'date') {
          const day = query[i]![1].replace(/^(ge|le|gt|lt|eq)/, '').slice(0, 10);
          const before = `lt${Number(day.slice(0, 4)) - 5}-01-01`;
          t.same(await search(type, vary(before) as [string, string][]), [], `${label}: ${before}`);
          const after = `le${Number(day.slice(0, 4)) + 5}-12-31`;
          t.same(await search(type, vary(after) as [string, string][]), want, `${label}: ${after}`);
        }
        if (def.type === 'token' && param !== '_id') {
          const or = `urn:x:none|nothing,${query[i]![1]}`;
          t.same(await search(type, vary(or) as [string, string][]), want, `${label}: OR-list`);
          const miss = 'urn:x:none|nothing';
          t.same(await search(type, vary(miss) as [string, string][]), [], `${label}: no match`);
        }
      }
    }
  }
});

t.test('_revinclude=Provenance:target on every type, _include as US Core names', async (t) => {
  const { base: url } = await startTestServer(t);
  await seed(url);
  for (const resource of clinicalWorld('p1')) {
    const type = resource.resourceType;
    const res = await fhir(url, 'GET', `${type}?_id=${resource.id}&_revinclude=Provenance:target`);
    t.equal(res.status, 200, type);
    t.same(includedIds(res.body), [`Provenance/prov-${resource.id}`], `${type} and its Provenance`);
  }
  const wanted: Record<string, [string, string[]]> = {
    'MedicationRequest:medication': [
      'MedicationRequest?patient=p1&intent=order',
      ['Medication/med1'],
    ],
    'PractitionerRole:endpoint': ['PractitionerRole?practitioner=dr1', ['Endpoint/ep1']],
    'PractitionerRole:practitioner': ['PractitionerRole?practitioner=dr1', ['Practitioner/dr1']],
  };
  for (const [type, includes] of Object.entries(US_CORE_INCLUDES)) {
    for (const include of includes) {
      const [query, expected] = wanted[include]!;
      const res = await fhir(url, 'GET', `${query}&_include=${include}`);
      t.equal(res.status, 200, include);
      t.same(includedIds(res.body), expected, `${type}: _include=${include}`);
    }
  }
});

t.test('Observation by category picks every profile of that category', async (t) => {
  const { base: url } = await startTestServer(t);
  for (const [id, make] of Object.entries(f.US_CORE_EXAMPLES)) {
    const resource: Json = { ...make('Patient/p9'), id };
    if (resource.resourceType !== 'Observation') continue;
    t.equal((await fhir(url, 'PUT', `Observation/${id}`, resource)).status, 201, id);
  }
  const vitals = await fhir(url, 'GET', 'Observation?patient=p9&category=vital-signs&_count=50');
  t.same(
    matchIds(vitals.body),
    Object.keys(f.VITAL_SIGNS).concat('us-core-blood-pressure', 'us-core-pulse-oximetry').sort(),
    'every vital sign, none of the rest',
  );
  const either = await fhir(url, 'GET', 'Observation?patient=p9&code=72166-2,2339-0');
  t.same(matchIds(either.body), ['us-core-observation-lab', 'us-core-smokingstatus'], 'OR-list');
  const bp = await fhir(
    url,
    'GET',
    'Observation?patient=p9&code=http://loinc.org|85354-9&date=gt2024-01-09&date=lt2024-01-11',
  );
  t.same(matchIds(bp.body), ['us-core-blood-pressure'], 'code and a date range');
});
