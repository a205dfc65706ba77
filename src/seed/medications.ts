/**
 * Prescriptions: a shared Medication formulary and MedicationRequests (US Core's must-supports:
 * category, reported, medication as a code or a reference, encounter, requester, dosage text,
 * timing and dose, refills), one per visit and one patient-reported.
 */
import type { Medication, MedicationRequest } from 'fhir/r4.js';
import { concept, quantity, ref, RXNORM, Seeding, US_CORE } from './context.js';
import type { SeededPatient } from './patients.js';
import type { Visit } from './visits.js';

const DRUGS: [string, string][] = [
  ['197361', 'Amlodipine 5 MG Oral Tablet'],
  ['860975', 'Metformin hydrochloride 500 MG Extended Release Oral Tablet'],
  ['745752', 'Albuterol 0.09 MG/ACTUAT Metered Dose Inhaler'],
  ['312938', 'Sertraline 50 MG Oral Tablet'],
  ['198211', 'Simvastatin 40 MG Oral Tablet'],
];

export function formulary(s: Seeding): Medication[] {
  return DRUGS.map(([code, display], i) =>
    s.add<Medication>({
      resourceType: 'Medication',
      id: s.id('medication', i),
      meta: { profile: [`${US_CORE}us-core-medication`] },
      code: concept(RXNORM, code, display),
      status: 'active',
    }),
  );
}

const CATEGORY = 'http://terminology.hl7.org/CodeSystem/medicationrequest-category';

export function prescription(
  s: Seeding,
  who: SeededPatient,
  visit: Visit,
  key: string,
  medications: Medication[],
): MedicationRequest {
  const drug = s.random.pick(medications);
  const byReference = s.random.chance(0.5);
  return s.add<MedicationRequest>({
    resourceType: 'MedicationRequest',
    id: s.id('prescription', key),
    meta: { profile: [`${US_CORE}us-core-medicationrequest`] },
    status: 'active',
    intent: 'order',
    category: [concept(CATEGORY, 'community', 'Community')],
    reportedBoolean: false,
    ...(byReference
      ? { medicationReference: ref(drug) }
      : { medicationCodeableConcept: drug.code! }),
    subject: ref(who.patient),
    encounter: ref(visit.encounter),
    authoredOn: visit.end,
    requester: ref(who.clinician.practitioner),
    dosageInstruction: [
      {
        text: 'Take one tablet by mouth once daily',
        timing: { repeat: { frequency: 1, period: 1, periodUnit: 'd' } },
        route: concept('http://snomed.info/sct', '26643006', 'Oral route'),
        doseAndRate: [{ doseQuantity: quantity(1, 'tablet', '{tbl}') }],
      },
    ],
    dispenseRequest: {
      numberOfRepeatsAllowed: s.random.between(0, 5),
      quantity: quantity(30, 'tablet', '{tbl}'),
    },
  });
}

/** A medicine the patient told us they take (reported by them, no requester of ours). */
export function reported(s: Seeding, who: SeededPatient, n: number): MedicationRequest {
  return s.add<MedicationRequest>({
    resourceType: 'MedicationRequest',
    id: s.id('prescription', n, 'reported'),
    meta: { profile: [`${US_CORE}us-core-medicationrequest`] },
    status: 'active',
    intent: 'plan',
    category: [concept(CATEGORY, 'outpatient', 'Outpatient')],
    reportedReference: ref(who.patient),
    medicationCodeableConcept: concept(RXNORM, '243670', 'Aspirin 81 MG Oral Tablet'),
    subject: ref(who.patient),
    authoredOn: s.at(-20),
    requester: ref(who.patient),
    dosageInstruction: [{ text: 'One tablet daily' }],
  });
}
