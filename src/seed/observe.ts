/**
 * What every Observation of a visit shares (observations.ts, vitals.ts): who it is about, the
 * visit it was made at, when, by whom, and the US Core profile it claims.
 */
import type { Observation } from 'fhir/r4.js';
import { concept, OBSERVATION_CATEGORY, ref, Seeding, US_CORE, type Json } from './context.js';
import type { SeededPatient } from './patients.js';
import type { Visit } from './visits.js';

export interface On {
  s: Seeding;
  who: SeededPatient;
  visit: Visit;
  key: string;
}

export const category = (code: string, display: string) => [
  concept(OBSERVATION_CATEGORY, code, display),
];

/** Why a value (or a component's value) is missing: nobody could take it. */
export const NOT_PERFORMED = concept(
  'http://terminology.hl7.org/CodeSystem/data-absent-reason',
  'not-performed',
  'Not Performed',
);

export function observation(on: On, kind: string, profile: string, body: Json): Observation {
  const { s, who, visit } = on;
  return s.add<Observation>({
    resourceType: 'Observation',
    id: s.id('obs', on.key, kind),
    meta: { profile: [`${US_CORE}${profile}`] },
    status: 'final',
    subject: ref(who.patient),
    encounter: ref(visit.encounter),
    effectiveDateTime: visit.start,
    issued: visit.end,
    performer: [ref(who.clinician.practitioner)],
    ...body,
  } as Observation);
}
