/**
 * Telehealth visits: a Slot of the clinician's Schedule taken by an Appointment, and for past
 * visits the video Encounter it became (US Core Encounter's must-supports: identifier, type,
 * participant with type and period, reason, discharge disposition, location, service
 * provider). Future appointments are booked and wait; some Slots stay free to book.
 */
import type { Appointment, Encounter, Slot } from 'fhir/r4.js';
import { concept, ref, Seeding, SNOMED, US_CORE } from './context.js';
import type { Clinician } from './directory.js';
import type { SeededPatient } from './patients.js';

export interface Visit {
  appointment: Appointment;
  encounter: Encounter;
  /** The reason the visit was for, as SNOMED (becomes an encounter diagnosis). */
  reason: [string, string];
  /**
   * The video failed and the visit went on by phone: nothing could be observed, so its vital
   * signs are recorded as not performed. Always a patient's second visit, about something acute.
   */
  byPhone: boolean;
  start: string;
  end: string;
}

/** Complaints that pass: their encounter diagnoses are resolved (clinical.ts). */
export const ACUTE: [string, string][] = [
  ['68962001', 'Muscle pain'],
  ['54150009', 'Upper respiratory infection'],
];

const REASONS: [string, string][] = [
  ['38341003', 'Hypertensive disorder'],
  ['44054006', 'Diabetes mellitus type 2'],
  ['195967001', 'Asthma'],
  ['35489007', 'Depressive disorder'],
  ...ACUTE,
];

function slot(
  s: Seeding,
  clinician: Clinician,
  key: string,
  start: string,
  end: string,
  busy: boolean,
) {
  return s.add<Slot>({
    resourceType: 'Slot',
    id: s.id('slot', key),
    schedule: ref(clinician.schedule),
    serviceType: [concept(SNOMED, '11429006', 'Consultation')],
    status: busy ? 'busy' : 'free',
    start,
    end,
  });
}

function appointment(
  s: Seeding,
  who: SeededPatient,
  key: string,
  time: { start: string; end: string },
  taken: Slot,
  past: boolean,
  reason: [string, string],
): Appointment {
  return s.add<Appointment>({
    resourceType: 'Appointment',
    id: s.id('appointment', key),
    status: past ? 'fulfilled' : 'booked',
    serviceType: [concept(SNOMED, '11429006', 'Consultation')],
    appointmentType: concept(
      'http://terminology.hl7.org/CodeSystem/v2-0276',
      'ROUTINE',
      'Routine appointment',
    ),
    reasonCode: [concept(SNOMED, reason[0], reason[1])],
    description: `Video visit: ${reason[1].toLowerCase()}`,
    start: time.start,
    end: time.end,
    minutesDuration: 30,
    slot: [ref(taken)],
    created: s.at(past ? -400 : -3),
    participant: [
      { actor: ref(who.patient), required: 'required', status: 'accepted' },
      { actor: ref(who.clinician.practitioner), required: 'required', status: 'accepted' },
      { actor: ref(who.clinician.clinic.location), status: 'accepted' },
    ],
  });
}

function encounter(
  s: Seeding,
  who: SeededPatient,
  key: string,
  booked: Appointment,
  reason: [string, string],
) {
  return s.add<Encounter>({
    resourceType: 'Encounter',
    id: s.id('encounter', key),
    meta: { profile: [`${US_CORE}us-core-encounter`] },
    identifier: [{ system: 'urn:telefhir:visit', value: s.id('visit', key) }],
    status: 'finished',
    class: {
      system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode',
      code: 'VR',
      display: 'virtual',
    },
    type: [concept(SNOMED, '185316007', 'Indirect encounter')],
    subject: ref(who.patient),
    participant: [
      {
        type: [
          concept(
            'http://terminology.hl7.org/CodeSystem/v3-ParticipationType',
            'PPRF',
            'primary performer',
          ),
        ],
        period: { start: booked.start!, end: booked.end! },
        individual: ref(who.clinician.practitioner),
      },
    ],
    appointment: [ref(booked)],
    period: { start: booked.start!, end: booked.end! },
    reasonCode: [concept(SNOMED, reason[0], reason[1])],
    // The patient's standing problem (clinical.ts writes it under this id).
    reasonReference: [ref(`Condition/${s.id('condition', key.split('-')[0]!, 'problem')}`)],
    hospitalization: {
      dischargeDisposition: concept(
        'http://terminology.hl7.org/CodeSystem/discharge-disposition',
        'home',
        'Home',
      ),
    },
    location: [{ location: ref(who.clinician.clinic.location), status: 'completed' }],
    serviceProvider: ref(who.clinician.clinic.organization),
  });
}

/** A patient's past visits (with Encounters; the second by phone) and one upcoming appointment. */
export function visits(s: Seeding, who: SeededPatient, n: number): Visit[] {
  const past: Visit[] = [];
  const count = s.random.between(2, 3);
  for (let v = 0; v < count; v++) {
    const key = `${n}-${v}`;
    const time = s.nextHalfHour(false);
    const byPhone = v === 1;
    const reason = s.random.pick(byPhone ? ACUTE : REASONS);
    const taken = slot(s, who.clinician, key, time.start, time.end, true);
    const booked = appointment(s, who, key, time, taken, true, reason);
    const met = encounter(s, who, key, booked, reason);
    past.push({ appointment: booked, encounter: met, reason, byPhone, ...time });
  }
  const time = s.nextHalfHour(true);
  const taken = slot(s, who.clinician, `${n}-next`, time.start, time.end, true);
  appointment(s, who, `${n}-next`, time, taken, false, s.random.pick(REASONS));
  const free = s.nextHalfHour(true);
  slot(s, who.clinician, `${n}-free`, free.start, free.end, false);
  return past;
}
