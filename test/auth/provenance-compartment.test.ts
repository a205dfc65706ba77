/**
 * Provenance belongs to the compartments of its targets: a patient's token sees a Provenance
 * when every target is in that patient's compartment (recorded when the Provenance is written).
 * So a Provenance naming another patient's data, or two patients' data, is visible to no
 * patient-scoped grant, and a client can't claim a compartment for it. Attacks first, then the
 * feature US Core's test kit checks: `Condition?patient=X&_revinclude=Provenance:target` with a
 * patient token brings that patient's Provenances.
 */
import t from 'tap';
import { fhir, startTestServer, testToken } from '../helpers.js';
import { patient, practitioner } from '../fixtures.js';
import * as usCore from '../fixtures/us-core.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const as = (claims: Json) => ({ authorization: `Bearer ${testToken(claims)}` });
const PATIENT_P1 = as({ scope: 'patient/*.rs', patient: 'p1', role: 'PATIENT' });
const PATIENT_P2 = as({ scope: 'patient/*.rs', patient: 'p2', role: 'PATIENT' });
const PROVIDER_DR1 = as({ scope: 'user/*.cruds', role: 'PROVIDER', fhirUser: 'Practitioner/dr1' });
const CLAIM_URL = 'http://telefhir.dev/fhir/StructureDefinition/provenance-patient';

const provenance = (targets: string[], extra: Json = {}): Json => ({
  resourceType: 'Provenance',
  target: targets.map((reference) => ({ reference })),
  recorded: '2024-01-10T10:00:00Z',
  agent: [{ who: { reference: 'Practitioner/dr1' } }],
  ...extra,
});
/** A client's own copy of the server's record: it must be dropped, never trusted. */
const claiming = (p: string) => ({
  meta: { extension: [{ url: CLAIM_URL, valueReference: { reference: `Patient/${p}` } }] },
});

async function seed(base: string) {
  const put = async (resource: Json) => {
    const res = await fhir(base, 'PUT', `${resource.resourceType}/${resource.id}`, resource);
    if (res.status >= 300) throw new Error(`seeding ${resource.id}: ${res.text}`);
  };
  await put({ ...practitioner(), id: 'dr1' });
  await put({ ...patient(), id: 'p1', generalPractitioner: [{ reference: 'Practitioner/dr1' }] });
  await put({ ...patient({ name: [{ family: 'Bravo' }] }), id: 'p2' });
  for (const p of ['p1', 'p2']) {
    await put({ ...usCore.conditionProblem(`Patient/${p}`), id: `cond-${p}` });
    await put({ ...provenance([`Condition/cond-${p}`]), id: `prov-${p}` });
  }
  await put({ ...provenance(['Condition/cond-p1', 'Condition/cond-p2']), id: 'prov-both' });
  // R4 puts this one in p1's compartment (a target is Patient/p1), yet it is about p2's data.
  await put({ ...provenance(['Patient/p1', 'Condition/cond-p2']), id: 'prov-mixed' });
  await put({ ...provenance(['Condition/cond-p2'], claiming('p1')), id: 'prov-forged' });
}

const ids = (body: Json | undefined) =>
  ((body?.entry ?? []) as Json[]).map((e) => `${e.resource.resourceType}/${e.resource.id}`).sort();

t.test('a Provenance about other patients is out of a patient token', async (t) => {
  const { base } = await startTestServer(t);
  await seed(base);
  const get = (path: string) => fhir(base, 'GET', path, undefined, PATIENT_P1);
  for (const id of ['prov-p2', 'prov-both', 'prov-mixed', 'prov-forged']) {
    t.equal((await get(`Provenance/${id}`)).status, 404, `read ${id}`);
    t.equal((await get(`Provenance/${id}/_history`)).status, 404, `history of ${id}`);
  }
  const all = await get('Provenance?_count=100');
  t.same(ids(all.body), ['Provenance/prov-p1'], 'searching every Provenance: only p1s own');
  const revinc = await get('Condition?_revinclude=Provenance:target&_count=100');
  t.notOk(
    ids(revinc.body).some((id) => /prov-(p2|both|mixed|forged)/.test(id)),
    '_revinclude brings no Provenance touching p2',
  );
  const byPatient = await get('Provenance?patient=Patient/p1');
  t.notOk(ids(byPatient.body).includes('Provenance/prov-mixed'), 'nor by its patient param');
  const typeHistory = await get('Provenance/_history?_count=100');
  t.notOk(/prov-(p2|both|mixed|forged)/.test(typeHistory.text), 'type history: none of them');
  const p2 = await fhir(base, 'GET', 'Provenance?_count=100', undefined, PATIENT_P2);
  t.same(
    ids(p2.body),
    ['Provenance/prov-forged', 'Provenance/prov-p2'],
    "p2 sees those of its own data (the forged claim too: it is about p2's), not the one naming both",
  );
  const read = await fhir(base, 'GET', 'Provenance/prov-forged');
  t.notOk(
    JSON.stringify(read.body).includes('Patient/p1'),
    "the client's claim of a compartment was dropped when it was stored",
  );
});

t.test('a PROVIDER writes Provenance only over its own patients data', async (t) => {
  const { base } = await startTestServer(t);
  await seed(base);
  const post = (body: Json) => fhir(base, 'POST', 'Provenance', body, PROVIDER_DR1);
  t.equal((await post(provenance(['Condition/cond-p2']))).status, 403, "p2's Condition");
  t.equal(
    (await post(provenance(['Condition/cond-p2'], claiming('p1')))).status,
    403,
    'claiming p1s compartment for it',
  );
  t.equal(
    (await post(provenance(['Patient/p1', 'Condition/cond-p2']))).status,
    403,
    "naming p1 beside p2's Condition",
  );
  t.equal(
    (await post(provenance(['Condition/cond-p1', 'Condition/cond-p2']))).status,
    403,
    'both patients data',
  );
  const moved = await fhir(
    base,
    'PUT',
    'Provenance/prov-p1',
    { ...provenance(['Condition/cond-p2']), id: 'prov-p1' },
    PROVIDER_DR1,
  );
  t.equal(moved.status, 403, "retargeting p1's Provenance at p2's Condition");
});

t.test(
  "a patient token reads the Provenance of its own records (US Core's revinclude)",
  async (t) => {
    const { base } = await startTestServer(t);
    await seed(base);
    const get = (path: string) => fhir(base, 'GET', path, undefined, PATIENT_P1);
    const revinc = await get('Condition?patient=p1&_revinclude=Provenance:target');
    t.equal(revinc.status, 200);
    t.same(ids(revinc.body), ['Condition/cond-p1', 'Provenance/prov-p1'], 'the Provenance comes');
    t.equal((await get('Provenance/prov-p1')).status, 200, 'and reads by id');
    const found = await get('Provenance?target=Condition/cond-p1');
    t.same(ids(found.body), ['Provenance/prov-p1'], 'and is found by target');
    const written = await fhir(
      base,
      'POST',
      'Provenance',
      provenance(['Condition/cond-p1']),
      PROVIDER_DR1,
    );
    t.equal(written.status, 201, "a PROVIDER records Provenance of its patient's Condition");
    const bundle = await fhir(
      base,
      'POST',
      '',
      {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          {
            fullUrl: 'urn:uuid:2b0f1b4e-8d2e-4c39-9d0b-6a8a3c1f0c11',
            request: { method: 'POST', url: 'Condition' },
            resource: usCore.conditionProblem('Patient/p1'),
          },
          {
            request: { method: 'POST', url: 'Provenance' },
            resource: provenance(['urn:uuid:2b0f1b4e-8d2e-4c39-9d0b-6a8a3c1f0c11']),
          },
        ],
      },
      PROVIDER_DR1,
    );
    t.equal(bundle.status, 200, 'a Condition and its Provenance in one transaction');
    const events = await fhir(
      base,
      'GET',
      'AuditEvent?patient=Patient/p1&entity=Provenance/prov-p1',
    );
    t.ok(events.body?.entry?.length, "reading it is audited under p1's compartment");
  },
);
