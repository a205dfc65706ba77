/**
 * The side doors of issue "Wave 2, step 1": ways a caller reached what its grant does not
 * allow, each tried as an attacker would, over HTTP. dr1 is p1's general practitioner and no
 * one else's; dr2 is nobody's; g3 is p3's guardian. Runs on Postgres and (test/healthlake/suite)
 * on HealthLake.
 */
import t from 'tap';
import { fhir, startTestServer, testToken } from '../helpers.js';
import { encounter, observation, patient, practitioner, relatedPerson } from '../fixtures.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const RXNORM = 'http://www.nlm.nih.gov/research/umls/rxnorm';
const healthLake = process.env.TEST_STORE === 'healthlake';

const bearer = (claims: Json, headers: Record<string, string> = {}) => ({
  authorization: `Bearer ${testToken(claims)}`,
  ...headers,
});
const DR1 = { scope: 'user/*.cruds', role: 'PROVIDER', fhirUser: 'Practitioner/dr1' };
const dr1 = bearer(DR1);
const glass = bearer(DR1, { 'x-break-glass': 'unconscious in the ER' });
const desk = bearer({ scope: 'user/*.*', role: 'RECEPTIONIST', fhirUser: 'Practitioner/fd' });

async function world(t: Parameters<typeof startTestServer>[0]) {
  const server = await startTestServer(t, { providerAccess: 'assigned' });
  const put = async (resource: Json) => {
    const res = await fhir(server.base, 'PUT', `${resource.resourceType}/${resource.id}`, resource);
    if (res.status >= 300) throw new Error(`seeding ${resource.id}: ${res.text}`);
  };
  for (const id of ['dr1', 'dr2']) await put({ ...practitioner(), id });
  await put({ ...patient(), id: 'p1', generalPractitioner: [{ reference: 'Practitioner/dr1' }] });
  await put({ ...patient({ name: [{ family: 'Bravo' }] }), id: 'p2' });
  await put({ ...patient(), id: 'p3' });
  await put({ ...observation('Patient/p2'), id: 'lab-p2' });
  await put({ ...relatedPerson('Patient/p3'), id: 'g3' });
  return server;
}

const future = (hour: number) => new Date(Date.UTC(2031, 0, 1, hour)).toISOString();
const bookFor = (who: string, hour = 9) => ({
  resourceType: 'Parameters',
  parameter: [
    { name: 'patient', valueReference: { reference: `Patient/${who}` } },
    { name: 'practitioner', valueReference: { reference: 'Practitioner/dr1' } },
    { name: 'start', valueDateTime: future(hour) },
    { name: 'end', valueDateTime: future(hour).replace(':00:00', ':30:00') },
  ],
});
const appointment = (who: string, practitionerId = 'dr1') => ({
  resourceType: 'Appointment',
  status: 'booked',
  start: future(14),
  end: future(15),
  participant: [
    { actor: { reference: `Patient/${who}` }, status: 'accepted' },
    { actor: { reference: `Practitioner/${practitionerId}` }, status: 'accepted' },
  ],
});
const asParticipant = (who: string) =>
  encounter(`Patient/${who}`, { participant: [{ individual: { reference: 'Practitioner/dr1' } }] });

t.test(
  '_has, chains and conditional criteria are held to the grant of the type they reach',
  async (t) => {
    const { base } = await world(t);
    t.equal((await fhir(base, 'GET', 'Observation?code=2339-0', undefined, desk)).status, 403);
    for (const path of [
      'Patient?_has:Observation:patient:code=2339-0',
      'Patient?_has:AuditEvent:patient:action=R',
      'Appointment?reason-reference:Observation.code=2339-0',
    ]) {
      const res = await fhir(base, 'GET', path, undefined, desk);
      t.equal(res.status, 403, `RECEPTIONIST: ${path}`);
      t.match(res.headers.get('www-authenticate'), /insufficient_scope/);
      t.equal(res.body.resourceType, 'OperationOutcome');
    }
    const update = await fhir(
      base,
      'PUT',
      'Patient?_has:Observation:patient:code=2339-0',
      { ...patient(), id: 'p2' },
      desk,
    );
    t.equal(update.status, 403, 'conditional update criteria');
    const create = await fhir(base, 'POST', 'Patient', patient(), {
      ...desk,
      'if-none-exist': '_has:Observation:patient:code=2339-0',
    });
    t.equal(create.status, 403, 'If-None-Exist criteria');
    const remove = await fhir(
      base,
      'DELETE',
      'Appointment?reason-reference:Observation.code=2339-0',
      undefined,
      desk,
    );
    t.equal(remove.status, 403, 'conditional delete criteria');
    const bundle = await fhir(
      base,
      'POST',
      '',
      {
        resourceType: 'Bundle',
        type: 'batch',
        entry: [
          { request: { method: 'GET', url: 'Patient?_has:Observation:patient:code=2339-0' } },
        ],
      },
      desk,
    );
    t.match(bundle.body.entry[0].response.status, /^403/, 'a search entry in a batch');

    // A provider may search Patients they see and Observations of their own patients only: the
    // lab result of p2 (not theirs) must not surface through a reverse chain from the directory.
    const treating = await fhir(
      base,
      'GET',
      'Practitioner?_has:Observation:performer:subject=Patient/p2',
      undefined,
      dr1,
    );
    if (healthLake)
      t.equal(treating.status, 403, 'HealthLake refuses a chain into a partial grant');
    else t.same(treating.body.entry ?? [], [], 'nothing of p2 reached');
  },
);

t.test('a practitioner cannot link themself to a patient they cannot see', async (t) => {
  const { base } = await world(t);
  const encounterFor = await fhir(base, 'POST', 'Encounter', asParticipant('p2'), dr1);
  t.equal(encounterFor.status, 403, 'an Encounter naming themself for a stranger');
  const booked = await fhir(base, 'POST', 'Appointment', appointment('p2'), dr1);
  t.equal(booked.status, 403, 'an Appointment naming themself for a stranger');
  const transaction = await fhir(
    base,
    'POST',
    '',
    {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { resource: asParticipant('p2'), request: { method: 'POST', url: 'Encounter' } },
        { request: { method: 'GET', url: 'Patient/p2' } },
      ],
    },
    dr1,
  );
  t.equal(transaction.status, 403, 'nor inside a transaction');
  const withMine = await fhir(
    base,
    'POST',
    'Appointment',
    {
      ...appointment('p1'),
      participant: [
        ...appointment('p1').participant,
        { actor: { reference: 'Patient/p2' }, status: 'accepted' },
      ],
    },
    dr1,
  );
  t.equal(withMine.status, 403, 'nor by adding a stranger to one of their own');
  t.equal((await fhir(base, 'GET', 'Patient/p2', undefined, dr1)).status, 404, 'p2 still unseen');
  t.equal((await fhir(base, 'GET', 'Observation/lab-p2', undefined, dr1)).status, 404);
  const theirs = await fhir(base, 'GET', 'Encounter?subject=Patient/p2');
  t.same(theirs.body.entry ?? [], [], 'nothing was written for p2');

  const registered = await fhir(
    base,
    'POST',
    'Patient',
    { ...patient(), generalPractitioner: [{ reference: 'Practitioner/dr1' }] },
    dr1,
  );
  t.equal(registered.status, 201, 'registering a new patient under their own care is allowed');
  const claimed = await fhir(
    base,
    'PUT',
    'Patient/p3',
    { ...patient(), id: 'p3', generalPractitioner: [{ reference: 'Practitioner/dr1' }] },
    dr1,
  );
  t.equal(claimed.status, 403, 'naming themself GP of an existing stranger is not');
  const own = await fhir(base, 'POST', 'Encounter', asParticipant('p1'), dr1);
  t.equal(own.status, 201, 'an Encounter for their own patient is fine');
});

t.test('the front desk assigns; the assignment is audited', async (t) => {
  const { base } = await world(t);
  const booked = await fhir(base, 'POST', 'Appointment', appointment('p3'), desk);
  t.equal(booked.status, 201, booked.text);
  t.equal((await fhir(base, 'GET', 'Patient/p3', undefined, dr1)).status, 200, 'dr1 now sees p3');
  const events = await fhir(
    base,
    'GET',
    `AuditEvent?entity=Appointment/${booked.body.id}&subtype=create`,
  );
  t.equal(events.body.entry?.length, 1, 'the create is audited');
  const details = events.body.entry[0].resource.entity.flatMap((e: Json) => e.detail ?? []);
  t.same(
    details.filter((d: Json) => d.type === 'assigns'),
    [{ type: 'assigns', valueString: 'Practitioner/dr1' }],
    'naming the practitioner it assigns, by the agent that wrote it',
  );
  t.match(events.body.entry[0].resource.agent[0].who, { reference: 'Practitioner/fd' });
});

t.test('break-glass reads only: no REST write and no operation under it', async (t) => {
  const { base } = await world(t);
  t.equal((await fhir(base, 'GET', 'Patient/p2', undefined, glass)).status, 200, 'reads');
  for (const who of ['p1', 'p2']) {
    const made = await fhir(base, 'POST', 'Encounter', asParticipant(who), glass);
    t.equal(made.status, 403, `REST create for ${who}`);
    const booked = await fhir(base, 'POST', 'Appointment/$book', bookFor(who), glass);
    t.equal(booked.status, 403, `$book for ${who}`);
    t.equal(booked.body.resourceType, 'OperationOutcome');
    const prescribed = await fhir(
      base,
      'POST',
      'MedicationRequest/$prescribe',
      {
        resourceType: 'Parameters',
        parameter: [
          { name: 'patient', valueReference: { reference: `Patient/${who}` } },
          {
            name: 'medication',
            valueCodeableConcept: { coding: [{ system: RXNORM, code: '1049221' }] },
          },
          { name: 'dosageInstruction', valueDosage: { text: 'one tablet', sequence: 1 } },
        ],
      },
      glass,
    );
    t.equal(prescribed.status, 403, `$prescribe for ${who}`);
  }
  t.equal((await fhir(base, 'GET', 'Patient/p2', undefined, dr1)).status, 404, 'no link left');
  const appointments = await fhir(base, 'GET', 'Appointment?actor=Patient/p2');
  t.same(appointments.body.entry ?? [], [], 'nothing booked');
  const booked = await fhir(base, 'POST', 'Appointment/$book', bookFor('p1', 11), dr1);
  t.equal(booked.status, 201, 'without break-glass dr1 books for their own patient');
});

t.test('a launch patient is never taken on trust from the token', async (t) => {
  const { base } = await world(t);
  const g3 = { scope: 'patient/*.rs', role: 'GUARDIAN', fhirUser: 'RelatedPerson/g3' };
  const guardian = bearer({ ...g3, patient: 'p2' });
  t.equal((await fhir(base, 'GET', 'Patient/p2', undefined, guardian)).status, 404);
  const labs = await fhir(base, 'GET', 'Observation?patient=p2', undefined, guardian);
  t.same(labs.body.entry ?? [], [], 'a guardian sees nothing of a launch patient not their ward');
  const ward = bearer({ ...g3, patient: 'p3' });
  t.equal((await fhir(base, 'GET', 'Patient/p3', undefined, ward)).status, 200, 'their ward');
  const provider = bearer({ ...DR1, scope: 'patient/*.cruds', patient: 'p2' });
  t.equal((await fhir(base, 'GET', 'Patient/p2', undefined, provider)).status, 404);
  const made = await fhir(base, 'POST', 'Encounter', encounter('Patient/p2'), provider);
  t.equal(made.status, 403, 'nor writes for it');
});

t.test('operations hold a patient/ scope to its launch patient', async (t) => {
  const { base } = await world(t);
  const launched = bearer({
    scope: 'patient/Appointment.c patient/Patient.r',
    role: 'RECEPTIONIST',
    patient: 'p1',
  });
  const other = await fhir(base, 'POST', 'Appointment/$book', bookFor('p2'), launched);
  t.equal(other.status, 403, 'booking for another patient');
  const own = await fhir(base, 'POST', 'Appointment/$book', bookFor('p1', 10), launched);
  t.equal(own.status, 201, own.text);
});
