/**
 * $book: an Appointment for a patient with a practitioner, in a free Slot or at a start and
 * end. The database makes double booking impossible (appointment-ledger.ts); this file checks
 * everything else and says clearly what is wrong.
 */
import type { Appointment, CodeableConcept, Resource, Schedule, Slot } from 'fhir/r4.js';
import { FhirError } from '../../fhir/errors.js';
import { parseSearch } from '../../search/parse.js';
import { assertValid } from '../../exchange/assert-valid.js';
import type { FhirStore } from '../../store/store.js';
import { forbidden, hasRole, isBackend, ownPatient, scopeAllows } from '../caller.js';
import {
  referenceId,
  SERVER,
  valueOf,
  type OperationCall,
  type OperationResult,
} from '../operation.js';

/** An instant with a time and a zone: `2030-01-10T09:00:00Z`, `...+02:00`. */
const ZONED = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;

const unprocessable = (why: string) => new FhirError(422, 'processing', why);

/** Who may book for whom; see README "Telehealth operations". */
function authorizeBooking(call: OperationCall, patientId: string) {
  const { principal } = call.ex.policy;
  if (!scopeAllows(principal, 'Appointment', 'c', [patientId])) {
    throw forbidden('Booking needs a scope that allows creating Appointments');
  }
  if (isBackend(principal) || hasRole(principal, 'ADMIN', 'RECEPTIONIST', 'PROVIDER')) return;
  if (hasRole(principal, 'PATIENT')) {
    if (ownPatient(principal) === patientId) return;
    throw forbidden('A patient may book only for themself');
  }
  throw forbidden("The token's role may not book appointments");
}

async function exists(store: FhirStore, type: string, id: string, ctx = SERVER) {
  try {
    return await store.read(type, id, ctx);
  } catch (error) {
    if (error instanceof FhirError && [403, 404, 410].includes(error.statusCode)) {
      throw unprocessable(`${type}/${id} does not exist or is not accessible to the caller`);
    }
    throw error;
  }
}

function parseTimes(start: string | undefined, end: string | undefined, now: Date) {
  if (start === undefined || end === undefined) {
    throw new FhirError(400, 'required', 'Give either slot, or both start and end');
  }
  for (const [name, value] of [
    ['start', start],
    ['end', end],
  ] as const) {
    if (!ZONED.test(value) || Number.isNaN(Date.parse(value))) {
      throw new FhirError(400, 'value', `${name} must be a dateTime with a time and a time zone`);
    }
  }
  if (Date.parse(start) >= Date.parse(end)) throw unprocessable('start must be before end');
  if (Date.parse(start) <= now.getTime()) throw unprocessable('start must be in the future');
  return { start, end };
}

/** The practitioner's Schedules' free Slot that holds [start, end), if they publish Slots at all. */
async function slotFor(store: FhirStore, practitioner: string, start: string, end: string) {
  const schedules = await store.search(scheduleQuery(practitioner), SERVER);
  if (!schedules.matches.length) return { scheduled: false as const };
  const ids = schedules.matches.map((s) => `Schedule/${(s as Schedule).id}`);
  const slots = await store.search(slotQuery(ids, start), SERVER);
  const slot = (slots.matches as Slot[]).find(
    (candidate) => Date.parse(candidate.end) >= Date.parse(end),
  );
  return { scheduled: true as const, slot };
}

const scheduleQuery = (practitioner: string) =>
  parseSearch(
    'Schedule',
    new URLSearchParams({ actor: `Practitioner/${practitioner}`, _count: '100' }),
    {
      baseUrl: '',
      strict: true,
    },
  );
const slotQuery = (schedules: string[], start: string) =>
  parseSearch(
    'Slot',
    new URLSearchParams([
      ['schedule', schedules.join(',')],
      ['status', 'free'],
      ['start', `le${start}`],
      ['_count', '1000'],
    ]),
    { baseUrl: '', strict: true },
  );

async function bookedSlot(store: FhirStore, slotId: string, practitioner: string, now: Date) {
  const slot = (await exists(store, 'Slot', slotId)) as Slot;
  if (slot.status !== 'free')
    throw new FhirError(409, 'conflict', `Slot/${slotId} is ${slot.status}, not free`);
  if (Date.parse(slot.start) <= now.getTime())
    throw unprocessable(`Slot/${slotId} has already begun`);
  const scheduleId = /^Schedule\/(.+)$/.exec(slot.schedule.reference ?? '')?.[1];
  const schedule = scheduleId
    ? ((await exists(store, 'Schedule', scheduleId)) as Schedule)
    : undefined;
  const actors = (schedule?.actor ?? []).map((actor) => actor.reference);
  if (!actors.includes(`Practitioner/${practitioner}`)) {
    throw unprocessable(`Slot/${slotId} is not in a Schedule of Practitioner/${practitioner}`);
  }
  return slot;
}

export async function book(call: OperationCall): Promise<OperationResult> {
  const { ex, tx, now } = call;
  const patientId = referenceId(call, 'patient', 'Patient')!;
  const practitionerId = referenceId(call, 'practitioner', 'Practitioner')!;
  authorizeBooking(call, patientId);
  // The caller must be able to see the patient (a PROVIDER: one of theirs, unless break-glass);
  // the practitioner is directory data.
  await exists(tx.store, 'Patient', patientId, ex.ctx);
  await exists(tx.store, 'Practitioner', practitionerId);

  const slotId = referenceId(call, 'slot', 'Slot');
  let slot: Slot | undefined;
  let start: string;
  let end: string;
  if (slotId !== undefined) {
    if (call.params.has('start') || call.params.has('end')) {
      throw new FhirError(400, 'invalid', 'Give either slot, or start and end, not both');
    }
    slot = await bookedSlot(tx.store, slotId, practitionerId, now);
    ({ start, end } = slot);
  } else {
    ({ start, end } = parseTimes(
      valueOf(call, 'start', 'DateTime'),
      valueOf(call, 'end', 'DateTime'),
      now,
    ));
    const found = await slotFor(tx.store, practitionerId, start, end);
    if (found.scheduled) {
      if (!found.slot) {
        throw new FhirError(
          409,
          'conflict',
          `Practitioner/${practitionerId} has no free Slot from ${start} to ${end}`,
        );
      }
      slot = found.slot;
    }
  }

  const serviceType = valueOf<CodeableConcept>(call, 'serviceType', 'CodeableConcept');
  const reasonCode = valueOf<CodeableConcept>(call, 'reasonCode', 'CodeableConcept');
  const comment = valueOf<string>(call, 'comment', 'String');
  const appointment: Appointment = {
    resourceType: 'Appointment',
    status: 'booked',
    ...(serviceType ? { serviceType: [serviceType] } : {}),
    ...(reasonCode ? { reasonCode: [reasonCode] } : {}),
    start,
    end,
    minutesDuration: Math.round((Date.parse(end) - Date.parse(start)) / 60_000),
    ...(slot ? { slot: [{ reference: `Slot/${slot.id}` }] } : {}),
    created: now.toISOString(),
    ...(comment ? { comment } : {}),
    participant: [
      { actor: { reference: `Patient/${patientId}` }, required: 'required', status: 'accepted' },
      {
        actor: { reference: `Practitioner/${practitionerId}` },
        required: 'required',
        status: 'accepted',
      },
    ],
  };
  assertValid(ex, appointment);
  // The ledger hook holds the time for both people, or refuses with 409 naming the clash.
  const created = (await tx.store.create(appointment, SERVER)) as Appointment;
  if (slot) await tx.store.update({ ...slot, status: 'busy' } as Resource, SERVER);
  return {
    status: 201,
    resource: created,
    location: `${ex.baseUrl}/Appointment/${created.id}/_history/${created.meta?.versionId}`,
  };
}
