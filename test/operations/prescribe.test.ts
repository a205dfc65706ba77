/**
 * $prescribe over HTTP on a real database: the order it writes, the duplicate rule (also under
 * concurrency), who may prescribe, and the prescription workflow that follows it.
 */
import t from 'tap';
import { fhir, startServer, startTestServer, testConfig, testToken } from '../helpers.js';
import { encounter, medication, patient, practitioner } from '../fixtures.js';
import { openDatabase } from '../../src/db/database.js';
import { migrate } from '../../src/db/migrate.js';
import { PostgresStore } from '../../src/store/postgres/postgres-store.js';
import { searchIndexer } from '../../src/store/postgres/search-indexer.js';
import { appointmentLedger } from '../../src/workflow/appointment-ledger.js';
import { openWorkflow } from '../../src/workflow/workflow.js';
import {
  prescriptionLedger,
  prescriptionState,
  transition,
} from '../../src/operations/prescribe/prescriptions.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const RXNORM = 'http://www.nlm.nih.gov/research/umls/rxnorm';
const provider = {
  authorization: `Bearer ${testToken({ scope: 'user/*.*', role: 'PROVIDER', fhirUser: 'Practitioner/dr1' })}`,
};

const params = (extra: Json[] = [], code = '1049221', who = 'p1') => ({
  resourceType: 'Parameters',
  parameter: [
    { name: 'patient', valueReference: { reference: `Patient/${who}` } },
    {
      name: 'medication',
      valueCodeableConcept: { coding: [{ system: RXNORM, code, display: 'oxycodone' }] },
    },
    { name: 'dosageInstruction', valueDosage: { text: 'one tablet every 6 hours', sequence: 1 } },
    ...extra,
  ],
});

async function seed(base: string) {
  await fhir(base, 'PUT', 'Practitioner/dr1', { ...practitioner(), id: 'dr1' });
  await fhir(base, 'PUT', 'Practitioner/dr2', { ...practitioner(), id: 'dr2' });
  await fhir(base, 'PUT', 'Patient/p1', {
    ...patient(),
    id: 'p1',
    generalPractitioner: [{ reference: 'Practitioner/dr1' }],
  });
  await fhir(base, 'PUT', 'Patient/p2', { ...patient(), id: 'p2' });
  await fhir(base, 'PUT', 'Encounter/e1', { ...encounter('Patient/p1'), id: 'e1' });
  await fhir(base, 'PUT', 'Medication/m1', { ...medication(), id: 'm1' });
}

t.test('a PROVIDER prescribes: an active order signed by them, with its Provenance', async (t) => {
  const { base } = await startTestServer(t);
  await seed(base);
  const res = await fhir(
    base,
    'POST',
    'MedicationRequest/$prescribe',
    params([
      { name: 'encounter', valueReference: { reference: 'Encounter/e1' } },
      { name: 'note', valueString: 'with food' },
      {
        name: 'dispenseRequest',
        part: [
          { name: 'quantity', valueQuantity: { value: 20, unit: 'tablet' } },
          { name: 'numberOfRepeatsAllowed', valueUnsignedInt: 1 },
        ],
      },
    ]),
    provider,
  );
  t.equal(res.status, 201, res.text);
  const order = res.body;
  t.equal(order.resourceType, 'MedicationRequest');
  t.equal(order.status, 'active');
  t.equal(order.intent, 'order');
  t.same(order.requester, { reference: 'Practitioner/dr1' });
  t.same(order.subject, { reference: 'Patient/p1' });
  t.same(order.encounter, { reference: 'Encounter/e1' });
  t.ok(order.authoredOn);
  t.equal(order.dispenseRequest.quantity.value, 20);
  t.equal(order.note[0].text, 'with food');
  t.match(res.headers.get('location'), new RegExp(`MedicationRequest/${order.id}/_history/1$`));
  const provenance = await fhir(base, 'GET', `Provenance?target=MedicationRequest/${order.id}`);
  t.equal(provenance.body.entry.length, 1);
  t.same(provenance.body.entry[0].resource.agent[0].who, { reference: 'Practitioner/dr1' });

  const byReference = await fhir(
    base,
    'POST',
    'MedicationRequest/$prescribe',
    {
      resourceType: 'Parameters',
      parameter: [
        { name: 'patient', valueReference: { reference: 'Patient/p1' } },
        { name: 'medication', valueReference: { reference: 'Medication/m1' } },
        { name: 'dosageInstruction', valueDosage: { text: 'daily' } },
        { name: 'allowDuplicate', valueBoolean: true },
        { name: 'reason', valueString: 'second supply for travel' },
      ],
    },
    provider,
  );
  t.equal(byReference.status, 201, 'by Medication reference (same RxNorm, duplicate allowed)');
  t.same(byReference.body.medicationReference, { reference: 'Medication/m1' });
});

t.test('a second open prescription of a code is 409 unless allowed with a reason', async (t) => {
  const { base } = await startTestServer(t);
  await seed(base);
  const first = await fhir(base, 'POST', 'MedicationRequest/$prescribe', params(), provider);
  t.equal(first.status, 201);
  const again = await fhir(base, 'POST', 'MedicationRequest/$prescribe', params(), provider);
  t.equal(again.status, 409);
  t.match(again.body.issue[0].diagnostics, `MedicationRequest/${first.body.id}`);
  const noReason = await fhir(
    base,
    'POST',
    'MedicationRequest/$prescribe',
    params([{ name: 'allowDuplicate', valueBoolean: true }]),
    provider,
  );
  t.equal(noReason.status, 400);
  const allowed = await fhir(
    base,
    'POST',
    'MedicationRequest/$prescribe',
    params([
      { name: 'allowDuplicate', valueBoolean: true },
      { name: 'reason', valueString: 'dose split across pharmacies' },
    ]),
    provider,
  );
  t.equal(allowed.status, 201);
  const other = await fhir(
    base,
    'POST',
    'MedicationRequest/$prescribe',
    params([], '197361'),
    provider,
  );
  t.equal(other.status, 201, 'another code is fine');

  const cancelled = await fhir(base, 'PUT', `MedicationRequest/${first.body.id}`, {
    ...first.body,
    status: 'cancelled',
  });
  t.equal(cancelled.status, 200);
  const stillOpen = await fhir(base, 'POST', 'MedicationRequest/$prescribe', params(), provider);
  t.equal(stillOpen.status, 409, 'the allowed duplicate is still active');
  await fhir(base, 'PUT', `MedicationRequest/${allowed.body.id}`, {
    ...allowed.body,
    status: 'cancelled',
  });
  const afterCancel = await fhir(base, 'POST', 'MedicationRequest/$prescribe', params(), provider);
  t.equal(afterCancel.status, 201, 'once none is open, it may be prescribed again');

  const racing = await Promise.all(
    Array.from({ length: 10 }, () =>
      fhir(base, 'POST', 'MedicationRequest/$prescribe', params([], '308136'), provider),
    ),
  );
  t.equal(racing.filter((r) => r.status === 201).length, 1, 'concurrent: exactly one');
  t.equal(racing.filter((r) => r.status === 409).length, 9);
});

t.test('who may prescribe: each rule', async (t) => {
  const { base } = await startTestServer(t);
  await seed(base);
  let code = 100;
  const attempt = async (claims: Json, extra: Json[] = [], who = 'p1') => {
    code += 1;
    const res = await fhir(
      base,
      'POST',
      'MedicationRequest/$prescribe',
      params(extra, String(code), who),
      {
        authorization: `Bearer ${testToken(claims)}`,
      },
    );
    return res.status;
  };
  const dr1 = { scope: 'user/*.*', role: 'PROVIDER', fhirUser: 'Practitioner/dr1' };
  t.equal(await attempt(dr1), 201, 'a provider for their patient');
  t.equal(await attempt(dr1, [], 'p2'), 422, 'a provider for a patient not theirs');
  t.equal(await attempt({ ...dr1, role: 'NURSE' }), 403, 'a nurse');
  t.equal(
    await attempt({ scope: 'user/*.*', role: 'ADMIN', fhirUser: 'Practitioner/dr1' }),
    403,
    'an admin',
  );
  t.equal(
    await attempt({ ...dr1, scope: 'user/MedicationRequest.rs user/Patient.rs' }),
    403,
    'no create scope',
  );
  t.equal(
    await attempt(dr1, [{ name: 'requester', valueReference: { reference: 'Practitioner/dr2' } }]),
    403,
    'a provider naming another prescriber',
  );
  t.equal(await attempt({ scope: 'system/*.*' }), 400, 'a backend without requester');
  t.equal(
    await attempt({ scope: 'system/*.*' }, [
      { name: 'requester', valueReference: { reference: 'Practitioner/dr2' } },
    ]),
    201,
    'a backend naming the prescriber',
  );
  const provenance = await fhir(base, 'GET', 'Provenance?agent=Practitioner/dr2');
  t.equal(provenance.body.entry.length, 1, 'signed by the named prescriber');
});

t.test('bad input: 400/422 and nothing written', async (t) => {
  const { base } = await startTestServer(t);
  await seed(base);
  const cases: [Json, number, RegExp][] = [
    [
      {
        ...params(),
        parameter: params().parameter.filter((p: Json) => p.name !== 'dosageInstruction'),
      },
      400,
      /dosageInstruction/,
    ],
    [
      { ...params(), parameter: [...params().parameter, { name: 'refills', valueInteger: 2 }] },
      400,
      /refills/,
    ],
    [
      {
        ...params(),
        parameter: params().parameter.map((p: Json) =>
          p.name === 'medication'
            ? { name: 'medication', valueCodeableConcept: { text: 'aspirin' } }
            : p,
        ),
      },
      400,
      /RxNorm/,
    ],
    [
      params([{ name: 'encounter', valueReference: { reference: 'Encounter/nope' } }]),
      422,
      /Encounter\/nope/,
    ],
    [params([], '1049221', 'ghost'), 422, /Patient\/ghost/],
    [
      params([{ name: 'dispenseRequest', part: [{ name: 'colour', valueString: 'blue' }] }]),
      400,
      /colour/,
    ],
  ];
  for (const [body, status, message] of cases) {
    const res = await fhir(base, 'POST', 'MedicationRequest/$prescribe', body, provider);
    t.equal(res.status, status, String(message));
    t.match(res.body.issue[0].diagnostics, message);
  }
  t.equal((await fhir(base, 'GET', 'MedicationRequest')).body.entry?.length ?? 0, 0, 'no order');
  t.equal((await fhir(base, 'GET', 'Provenance')).body.entry?.length ?? 0, 0, 'no provenance');
});

t.test('the workflow: signed → transmitted → dispensed, and the order follows', async (t) => {
  const config = await testConfig(t);
  const db = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  await migrate(db);
  const hooks = [appointmentLedger(), prescriptionLedger()];
  const store = new PostgresStore(db, db, false, searchIndexer(config.baseUrl), undefined, hooks);
  await store.sharedSecret('paging');
  const { base } = await startServer(t, config, { store });
  const workflow = await openWorkflow(store, config);
  await seed(base);
  const { body: order } = await fhir(
    base,
    'POST',
    'MedicationRequest/$prescribe',
    params(),
    provider,
  );
  t.equal(await prescriptionState(db, order.id), 'signed');
  await workflow.run((tx) => transition(tx, order.id, 'transmitted'));
  t.equal(await prescriptionState(db, order.id), 'transmitted');
  t.equal((await fhir(base, 'GET', `MedicationRequest/${order.id}`)).body.status, 'active');
  await workflow.run((tx) => transition(tx, order.id, 'dispensed'));
  t.equal((await fhir(base, 'GET', `MedicationRequest/${order.id}`)).body.status, 'completed');
  await t.rejects(
    workflow.run((tx) => transition(tx, order.id, 'cancelled')),
    { message: /A dispensed prescription can't become cancelled/ },
  );

  const { body: second } = await fhir(
    base,
    'POST',
    'MedicationRequest/$prescribe',
    params([], '197361'),
    provider,
  );
  await workflow.run((tx) => transition(tx, second.id, 'cancelled'));
  t.equal(
    (await fhir(base, 'GET', `MedicationRequest/${second.id}`)).body.status,
    'cancelled',
    'cancelling the prescription cancels the order',
  );
});
