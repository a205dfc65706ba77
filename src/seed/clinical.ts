/**
 * A patient's problems and history: Conditions (problem-list items, a health concern, and the
 * encounter diagnosis of each visit), allergies, immunizations, procedures and, for some, an
 * implanted device, each with US Core 5.0.1's must-support elements.
 */
import type { AllergyIntolerance, Condition, Device, Immunization, Procedure } from 'fhir/r4.js';
import { concept, CVX, ref, Seeding, SNOMED, US_CORE } from './context.js';
import type { SeededPatient } from './patients.js';
import { ACUTE, type Visit } from './visits.js';

const CLINICAL = 'http://terminology.hl7.org/CodeSystem/condition-clinical';
const VERIFICATION = 'http://terminology.hl7.org/CodeSystem/condition-ver-status';
const CONDITION_CATEGORY = 'http://terminology.hl7.org/CodeSystem/condition-category';
const US_CORE_CATEGORY = 'http://hl7.org/fhir/us/core/CodeSystem/condition-category';

function condition(
  s: Seeding,
  who: SeededPatient,
  id: string,
  profile: string,
  kind: [string, string, string],
  code: [string, string],
  extra: Partial<Condition>,
): Condition {
  return s.add<Condition>({
    resourceType: 'Condition',
    id,
    meta: { profile: [`${US_CORE}${profile}`] },
    clinicalStatus: concept(CLINICAL, 'active', 'Active'),
    verificationStatus: concept(VERIFICATION, 'confirmed', 'Confirmed'),
    category: [concept(kind[0], kind[1], kind[2])],
    code: concept(SNOMED, code[0], code[1]),
    subject: ref(who.patient),
    recordedDate: s.at(-30),
    ...extra,
  });
}

/** The diagnosis a visit ended with; an acute one has passed by the anchor day. */
export function diagnosis(s: Seeding, who: SeededPatient, visit: Visit, key: string): Condition {
  const passed = ACUTE.some(([code]) => code === visit.reason[0]);
  return condition(
    s,
    who,
    s.id('condition', key),
    'us-core-condition-encounter-diagnosis',
    [CONDITION_CATEGORY, 'encounter-diagnosis', 'Encounter Diagnosis'],
    visit.reason,
    {
      encounter: ref(visit.encounter),
      onsetDateTime: visit.start,
      recordedDate: visit.end,
      ...(passed
        ? {
            clinicalStatus: concept(CLINICAL, 'resolved', 'Resolved'),
            abatementDateTime: s.date(0),
          }
        : {}),
    },
  );
}

export function history(s: Seeding, who: SeededPatient, n: number, first: Visit | undefined) {
  const { random } = s;
  const problem = condition(
    s,
    who,
    s.id('condition', n, 'problem'),
    'us-core-condition-problems-health-concerns',
    [CONDITION_CATEGORY, 'problem-list-item', 'Problem List Item'],
    random.pick([
      ['59621000', 'Essential hypertension'],
      ['55822004', 'Hyperlipidemia'],
      ['40055000', 'Chronic sinusitis'],
    ]),
    {
      extension: [
        {
          url: 'http://hl7.org/fhir/StructureDefinition/condition-assertedDate',
          valueDateTime: s.date(-800),
        },
      ],
      onsetDateTime: s.at(-random.between(400, 3000)),
      recordedDate: s.at(-390),
    },
  );
  condition(
    s,
    who,
    s.id('condition', n, 'concern'),
    'us-core-condition-problems-health-concerns',
    [US_CORE_CATEGORY, 'health-concern', 'Health Concern'],
    ['161817003', 'Lives alone'],
    {
      clinicalStatus: concept(CLINICAL, 'resolved', 'Resolved'),
      onsetDateTime: s.at(-900),
      abatementDateTime: s.at(-100),
    },
  );
  s.add<AllergyIntolerance>({
    resourceType: 'AllergyIntolerance',
    id: s.id('allergy', n),
    meta: { profile: [`${US_CORE}us-core-allergyintolerance`] },
    clinicalStatus: concept(
      'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical',
      'active',
      'Active',
    ),
    verificationStatus: concept(
      'http://terminology.hl7.org/CodeSystem/allergyintolerance-verification',
      'confirmed',
      'Confirmed',
    ),
    category: ['medication'],
    criticality: 'high',
    code: concept('http://www.nlm.nih.gov/research/umls/rxnorm', '7980', 'Penicillin G'),
    patient: ref(who.patient),
    recordedDate: s.at(-500),
    reaction: [
      {
        manifestation: [concept(SNOMED, '247472004', 'Hives')],
        severity: 'moderate',
      },
    ],
  });
  const vaccines: [string, string][] = [
    ['140', 'Influenza, seasonal, injectable, preservative free'],
    ['208', 'COVID-19, mRNA, LNP-S, PF, 30 mcg/0.3 mL dose'],
    ['115', 'Tdap'],
  ];
  vaccines.forEach(([code, display], i) => {
    const given = i < 2;
    s.add<Immunization>({
      resourceType: 'Immunization',
      id: s.id('immunization', n, i),
      meta: { profile: [`${US_CORE}us-core-immunization`] },
      status: given ? 'completed' : 'not-done',
      ...(given
        ? {}
        : {
            statusReason: concept(
              'http://terminology.hl7.org/CodeSystem/v3-ActReason',
              'PATOBJ',
              'patient objection',
            ),
          }),
      vaccineCode: concept(CVX, code, display),
      patient: ref(who.patient),
      occurrenceDateTime: s.at(-random.between(30, 700)),
      primarySource: given,
      ...(given ? { lotNumber: `LOT${random.digits(6)}` } : {}),
    });
  });
  s.add<Procedure>({
    resourceType: 'Procedure',
    id: s.id('procedure', n),
    meta: { profile: [`${US_CORE}us-core-procedure`] },
    status: 'completed',
    code: concept(SNOMED, '183856001', 'Referral to physiotherapy'),
    subject: ref(who.patient),
    ...(first ? { encounter: ref(first.encounter), performedDateTime: first.end } : {}),
    ...(first ? {} : { performedPeriod: { start: s.at(-60), end: s.at(-60, 10) } }),
    performer: [{ actor: ref(who.clinician.practitioner) }],
    reasonReference: [ref(problem)],
  });
  if (n % 3 === 0) {
    s.add<Device>({
      resourceType: 'Device',
      id: s.id('device', n),
      meta: { profile: [`${US_CORE}us-core-implantable-device`] },
      udiCarrier: [
        {
          deviceIdentifier: `0${random.digits(13)}`,
          carrierHRF: `(01)0${random.digits(13)}(11)141231(17)360101(10)A${random.digits(4)}(21)${random.digits(6)}`,
        },
      ],
      distinctIdentifier: random.digits(8),
      manufactureDate: s.date(-1200),
      expirationDate: s.date(3000),
      lotNumber: `A${random.digits(4)}`,
      serialNumber: random.digits(6),
      type: concept(SNOMED, '468063009', 'Coated femoral stem prosthesis, modular'),
      patient: ref(who.patient),
    });
  }
  return { problem };
}
