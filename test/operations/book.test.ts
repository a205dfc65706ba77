/**
 * $book and $cancel over HTTP on a real database: the booking rules, the database's refusal
 * of double bookings under concurrency, Slots, idempotency and who may book.
 */
import t from 'tap';
import { fhir, startTestServer, testToken } from '../helpers.js';
import { patient, practitioner, schedule, slot } from '../fixtures.js';
import { loadOperation } from '../../src/fhir/operation-parameters.js';
import { createValidator } from '../../src/validation/index.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const future = (hours: number, minutes = 0) =>
  new Date(Date.UTC(2031, 0, 1, hours, minutes)).toISOString();

const bookParams = (extra: Json[] = [], who = { patient: 'p1', practitioner: 'dr1' }) => ({
  resourceType: 'Parameters',
  parameter: [
    { name: 'patient', valueReference: { reference: `Patient/${who.patient}` } },
    { name: 'practitioner', valueReference: { reference: `Practitioner/${who.practitioner}` } },
    ...extra,
  ],
});
const at = (start: string, end: string) => [
  { name: 'start', valueDateTime: start },
  { name: 'end', valueDateTime: end },
];
const bearer = (claims: Json) => ({ authorization: `Bearer ${testToken(claims)}` });

async function world(t: Parameters<typeof startTestServer>[0]) {
  const server = await startTestServer(t);
  const { base } = server;
  for (const id of ['p1', 'p2', 'p3'])
    await fhir(base, 'PUT', `Patient/${id}`, { ...patient(), id });
  for (const id of ['dr1', 'dr2', 'dr3']) {
    await fhir(base, 'PUT', `Practitioner/${id}`, { ...practitioner(), id });
  }
  return server;
}

const appointmentsOf = async (base: string, who: string) =>
  (await fhir(base, 'GET', `Appointment?actor=${who}&status=booked&_count=100`)).body.entry ?? [];

t.test('$book at a start and end: 201 with the booked Appointment and its Location', async (t) => {
  const { base } = await world(t);
  const res = await fhir(
    base,
    'POST',
    'Appointment/$book',
    bookParams([
      ...at(future(9), future(9, 30)),
      { name: 'comment', valueString: 'follow-up' },
      { name: 'reasonCode', valueCodeableConcept: { text: 'cough' } },
    ]),
  );
  t.equal(res.status, 201, res.text);
  const appointment = res.body;
  t.equal(appointment.resourceType, 'Appointment');
  t.equal(appointment.status, 'booked');
  t.equal(appointment.start, future(9));
  t.equal(appointment.minutesDuration, 30);
  t.same(
    appointment.participant.map((p: Json) => [p.actor.reference, p.status]),
    [
      ['Patient/p1', 'accepted'],
      ['Practitioner/dr1', 'accepted'],
    ],
  );
  t.match(res.headers.get('location'), new RegExp(`/Appointment/${appointment.id}/_history/1$`));
  const read = await fhir(base, 'GET', `Appointment/${appointment.id}`);
  // HealthLake: the outbox delivers after the answer, and HealthLake stamps its own lastUpdated.
  const stored =
    process.env.TEST_STORE === 'healthlake' ? { ...read.body, meta: undefined } : read.body;
  const answered =
    process.env.TEST_STORE === 'healthlake' ? { ...appointment, meta: undefined } : appointment;
  t.same(stored, answered, 'stored as answered');
  const events = await fhir(
    base,
    'GET',
    `AuditEvent?subtype=operation&entity=Appointment/${appointment.id}`,
  );
  t.equal(events.body.entry.length, 1, 'audited');
});

t.test('overlaps are 409 naming the clash, for the practitioner and for the patient', async (t) => {
  const { base } = await world(t);
  const first = await fhir(
    base,
    'POST',
    'Appointment/$book',
    bookParams(at(future(10), future(11))),
  );
  t.equal(first.status, 201);
  const samePractitioner = await fhir(
    base,
    'POST',
    'Appointment/$book',
    bookParams(at(future(10, 30), future(11, 30)), { patient: 'p2', practitioner: 'dr1' }),
  );
  t.equal(samePractitioner.status, 409);
  t.equal(samePractitioner.body.resourceType, 'OperationOutcome');
  t.match(
    samePractitioner.body.issue[0].diagnostics,
    `Practitioner/dr1 already has Appointment/${first.body.id}`,
  );
  const samePatient = await fhir(
    base,
    'POST',
    'Appointment/$book',
    bookParams(at(future(9, 30), future(10, 15)), { patient: 'p1', practitioner: 'dr2' }),
  );
  t.equal(samePatient.status, 409);
  t.match(samePatient.body.issue[0].diagnostics, /Patient\/p1 already has/);
  const adjacent = await fhir(
    base,
    'POST',
    'Appointment/$book',
    bookParams(at(future(11), future(11, 30)), { patient: 'p2', practitioner: 'dr1' }),
  );
  t.equal(adjacent.status, 201, 'back to back is not an overlap');
  const viaRest = await fhir(base, 'POST', 'Appointment', {
    ...first.body,
    id: undefined,
    meta: undefined,
  });
  t.equal(viaRest.status, 409, 'a plain create is held to the same rule');
});

t.test('50 concurrent bookings of one time: exactly one succeeds', async (t) => {
  const { base } = await world(t);
  const attempt = (i: number, start: string, end: string) =>
    fhir(
      base,
      'POST',
      'Appointment/$book',
      bookParams(at(start, end), {
        patient: `p${(i % 3) + 1}`,
        practitioner: 'dr3',
      }),
    );
  const equal = await Promise.all(
    Array.from({ length: 50 }, (_, i) => attempt(i, future(14), future(15))),
  );
  t.same(equal.filter((r) => r.status === 201).length, 1, 'one 201');
  t.same(equal.filter((r) => r.status === 409).length, 49, 'the rest 409');
  t.equal((await appointmentsOf(base, 'Practitioner/dr3')).length, 1, 'one Appointment stored');

  const overlapping = await Promise.all(
    Array.from({ length: 50 }, (_, i) => attempt(i, future(16, i % 30), future(17, i % 30))),
  );
  t.equal(overlapping.filter((r) => r.status === 201).length, 1, 'overlapping: one 201');
  t.same(
    overlapping.filter((r) => r.status >= 500).map((r) => r.text),
    [],
    'never a 5xx',
  );
  t.equal((await appointmentsOf(base, 'Practitioner/dr3')).length, 2);
});

t.test('Slots: booked busy, no second booking, $cancel frees the time and the Slot', async (t) => {
  const { base } = await world(t);
  await fhir(base, 'PUT', 'Schedule/s1', { ...schedule('Practitioner/dr1'), id: 's1' });
  await fhir(base, 'PUT', 'Slot/slot1', {
    ...slot('Schedule/s1', { start: future(9), end: future(10) }),
    id: 'slot1',
  });
  const bySlot = bookParams([{ name: 'slot', valueReference: { reference: 'Slot/slot1' } }]);
  const booked = await fhir(base, 'POST', 'Appointment/$book', bySlot);
  t.equal(booked.status, 201, booked.text);
  t.same(booked.body.slot, [{ reference: 'Slot/slot1' }]);
  t.equal(booked.body.start, future(9));
  t.equal((await fhir(base, 'GET', 'Slot/slot1')).body.status, 'busy');
  const again = await fhir(
    base,
    'POST',
    'Appointment/$book',
    bookParams([{ name: 'slot', valueReference: { reference: 'Slot/slot1' } }], {
      patient: 'p2',
      practitioner: 'dr1',
    }),
  );
  t.equal(again.status, 409);
  const outside = await fhir(
    base,
    'POST',
    'Appointment/$book',
    bookParams(at(future(12), future(13))),
  );
  t.equal(outside.status, 409, 'a practitioner with Slots is booked only in a free one');
  t.match(outside.body.issue[0].diagnostics, /no free Slot/);

  const cancelled = await fhir(base, 'POST', `Appointment/${booked.body.id}/$cancel`, {
    resourceType: 'Parameters',
    parameter: [{ name: 'reason', valueString: 'patient asked' }],
  });
  t.equal(cancelled.status, 200, cancelled.text);
  t.equal(cancelled.body.status, 'cancelled');
  t.equal(cancelled.body.cancelationReason.text, 'patient asked');
  t.equal((await fhir(base, 'GET', 'Slot/slot1')).body.status, 'free', 'the Slot is free again');
  const rebooked = await fhir(
    base,
    'POST',
    'Appointment/$book',
    bookParams(at(future(9), future(10)), { patient: 'p2', practitioner: 'dr1' }),
  );
  t.equal(rebooked.status, 201, 'the time is free again (and it lies in the free Slot)');
  t.same(rebooked.body.slot, [{ reference: 'Slot/slot1' }]);
  const cancelAgain = await fhir(base, 'POST', `Appointment/${rebooked.body.id}/$cancel`);
  t.equal(cancelAgain.status, 200);
  const viaPut = await fhir(
    base,
    'POST',
    'Appointment/$book',
    bookParams(at(future(9), future(10))),
  );
  t.equal(viaPut.status, 201);
  const put = await fhir(base, 'PUT', `Appointment/${viaPut.body.id}`, {
    ...viaPut.body,
    status: 'cancelled',
  });
  t.equal(put.status, 200);
  t.equal(
    (await fhir(base, 'GET', 'Slot/slot1')).body.status,
    'free',
    'a PUT to cancelled frees it too',
  );
});

t.test('bad input is a clear 400/422 and books nothing', async (t) => {
  const { base } = await world(t);
  const cases: [string, Json, number, RegExp][] = [
    [
      'no patient',
      {
        resourceType: 'Parameters',
        parameter: [
          { name: 'practitioner', valueReference: { reference: 'Practitioner/dr1' } },
          ...at(future(9), future(10)),
        ],
      },
      400,
      /needs parameter "patient"/,
    ],
    [
      'unknown parameter',
      bookParams([...at(future(9), future(10)), { name: 'colour', valueString: 'red' }]),
      400,
      /no parameter "colour"/,
    ],
    [
      'wrong value type',
      bookParams([
        { name: 'start', valueString: future(9) },
        { name: 'end', valueDateTime: future(10) },
      ]),
      400,
      /valueDateTime/,
    ],
    [
      'no time zone',
      bookParams(at('2031-01-01T09:00:00', '2031-01-01T10:00:00')),
      400,
      /time zone/,
    ],
    ['no time at all', bookParams(), 400, /slot, or both start and end/],
    ['end before start', bookParams(at(future(10), future(9))), 422, /before end/],
    ['in the past', bookParams(at('2020-01-01T09:00:00Z', '2020-01-01T10:00:00Z')), 422, /future/],
    [
      'unknown practitioner',
      bookParams(at(future(9), future(10)), { patient: 'p1', practitioner: 'nobody' }),
      422,
      /Practitioner\/nobody/,
    ],
    [
      'reference of the wrong type',
      bookParams(at(future(9), future(10)), { patient: 'p1', practitioner: 'x' }).parameter
        ? {
            resourceType: 'Parameters',
            parameter: [
              { name: 'patient', valueReference: { reference: 'Practitioner/dr1' } },
              { name: 'practitioner', valueReference: { reference: 'Practitioner/dr1' } },
              ...at(future(9), future(10)),
            ],
          }
        : {},
      400,
      /must reference a Patient/,
    ],
    ['not Parameters', { resourceType: 'Patient' }, 400, /Parameters/],
  ];
  for (const [name, body, status, message] of cases) {
    const res = await fhir(base, 'POST', 'Appointment/$book', body);
    t.equal(res.status, status, name);
    t.equal(res.body?.resourceType, 'OperationOutcome', name);
    t.match(res.body?.issue?.[0]?.diagnostics, message, name);
  }
  t.equal((await fhir(base, 'GET', 'Appointment')).body.entry?.length ?? 0, 0, 'nothing booked');
});

t.test('who may book: each rule', async (t) => {
  const { base } = await world(t);
  await fhir(base, 'PUT', 'Patient/p3', {
    ...patient(),
    id: 'p3',
    generalPractitioner: [{ reference: 'Practitioner/dr2' }],
  });
  let hour = 8;
  const attempt = async (claims: Json, who = { patient: 'p1', practitioner: 'dr1' }) => {
    hour += 1;
    return (
      await fhir(
        base,
        'POST',
        'Appointment/$book',
        bookParams(at(future(hour), future(hour, 30)), who),
        bearer(claims),
      )
    ).status;
  };
  t.equal(
    await attempt({
      scope: 'patient/Appointment.c patient/Patient.r',
      role: 'PATIENT',
      patient: 'p1',
    }),
    201,
    'a patient for themself',
  );
  t.equal(
    await attempt({ scope: 'patient/Appointment.c', role: 'PATIENT', patient: 'p2' }),
    403,
    'a patient for another',
  );
  t.equal(
    await attempt({ scope: 'user/*.*', role: 'RECEPTIONIST' }),
    201,
    'the front desk for anyone',
  );
  t.equal(await attempt({ scope: 'user/*.*', role: 'ADMIN' }), 201, 'ADMIN');
  t.equal(
    await attempt({ scope: 'user/*.*', role: 'NURSE', fhirUser: 'Practitioner/dr2' }),
    403,
    'a nurse may not',
  );
  t.equal(
    await attempt({ scope: 'user/*.*', role: 'GUARDIAN', fhirUser: 'RelatedPerson/g' }),
    403,
    'a guardian may not',
  );
  t.equal(
    await attempt({ scope: 'user/Appointment.rs user/Patient.rs', role: 'RECEPTIONIST' }),
    403,
    'no create scope',
  );
  t.equal(
    await attempt(
      { scope: 'user/*.*', role: 'PROVIDER', fhirUser: 'Practitioner/dr2' },
      { patient: 'p3', practitioner: 'dr2' },
    ),
    201,
    'a provider for their own patient',
  );
  t.equal(
    await attempt(
      { scope: 'user/*.*', role: 'PROVIDER', fhirUser: 'Practitioner/dr2' },
      { patient: 'p2', practitioner: 'dr2' },
    ),
    422,
    'a provider for a patient they may not access',
  );
  t.equal(await attempt({ scope: 'system/*.*' }), 201, 'a backend service');
});

t.test('Idempotency-Key: same body replays the first response, another body is 409', async (t) => {
  const { base } = await world(t);
  const body = bookParams(at(future(9), future(10)));
  const key = { 'idempotency-key': 'book-1' };
  const first = await fhir(base, 'POST', 'Appointment/$book', body, key);
  t.equal(first.status, 201);
  const second = await fhir(base, 'POST', 'Appointment/$book', body, key);
  t.equal(second.status, 201);
  t.same(second.body, first.body, 'the same Appointment');
  t.equal(second.headers.get('location'), first.headers.get('location'));
  t.equal((await appointmentsOf(base, 'Patient/p1')).length, 1, 'booked once');
  const other = await fhir(
    base,
    'POST',
    'Appointment/$book',
    bookParams(at(future(11), future(12))),
    key,
  );
  t.equal(other.status, 409);
  t.match(other.body.issue[0].diagnostics, /Idempotency-Key/);
  const concurrent = await Promise.all(
    Array.from({ length: 5 }, () =>
      fhir(base, 'POST', 'Appointment/$book', bookParams(at(future(13), future(14))), {
        'idempotency-key': 'book-2',
      }),
    ),
  );
  t.same(
    concurrent.map((r) => r.status),
    [201, 201, 201, 201, 201],
  );
  t.equal(new Set(concurrent.map((r) => r.body.id)).size, 1, 'concurrent retries: one booking');
});

t.test('the operations are defined, listed and valid', async (t) => {
  const { base } = await world(t);
  const metadata = await fhir(base, 'GET', 'metadata');
  const appointment = metadata.body.rest[0].resource.find((r: Json) => r.type === 'Appointment');
  const book = appointment.operation.find((o: Json) => o.name === 'book');
  t.equal(book.definition, `${base}/OperationDefinition/Appointment-book`);
  const definition = await fhir(base, 'GET', 'OperationDefinition/Appointment-book');
  t.equal(definition.status, 200);
  t.equal(definition.body.url, book.definition);
  const { validator } = createValidator({ defaultProfiles: false });
  for (const file of ['book.json', 'cancel.json']) {
    const errors = validator
      .validate(loadOperation(file))
      .filter((issue) => issue.severity === 'error');
    t.same(errors, [], `${file} is a valid R4 OperationDefinition`);
  }
});

t.test('who may cancel: each rule', async (t) => {
  const { base } = await world(t);
  let hour = 8;
  const booked = async () => {
    hour += 1;
    const res = await fhir(
      base,
      'POST',
      'Appointment/$book',
      bookParams(at(future(hour), future(hour, 30))),
    );
    return res.body.id as string;
  };
  const cancel = async (claims: Json) =>
    (await fhir(base, 'POST', `Appointment/${await booked()}/$cancel`, undefined, bearer(claims)))
      .status;
  t.equal(
    await cancel({ scope: 'patient/Appointment.u', role: 'PATIENT', patient: 'p1' }),
    200,
    'its patient',
  );
  t.equal(
    await cancel({ scope: 'patient/Appointment.u', role: 'PATIENT', patient: 'p2' }),
    403,
    'another patient',
  );
  t.equal(
    await cancel({ scope: 'user/*.*', role: 'PROVIDER', fhirUser: 'Practitioner/dr1' }),
    200,
    'its practitioner',
  );
  t.equal(
    await cancel({ scope: 'user/*.*', role: 'PROVIDER', fhirUser: 'Practitioner/dr2' }),
    403,
    'another practitioner',
  );
  t.equal(await cancel({ scope: 'user/*.*', role: 'RECEPTIONIST' }), 200, 'the front desk');
  t.equal(await cancel({ scope: 'user/*.*', role: 'STAFF' }), 200, 'staff');
  t.equal(await cancel({ scope: 'user/*.*', role: 'ADMIN' }), 200, 'ADMIN');
  t.equal(await cancel({ scope: 'system/*.*' }), 200, 'a backend service');
  t.equal(
    await cancel({ scope: 'user/*.*', role: 'GUARDIAN', fhirUser: 'RelatedPerson/g' }),
    403,
    'a guardian',
  );
  t.equal(
    await cancel({ scope: 'user/Appointment.rs', role: 'RECEPTIONIST' }),
    403,
    'no update scope',
  );
});
