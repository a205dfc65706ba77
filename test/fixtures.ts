/**
 * Valid resources of every served type: conformant to R4 and, where US Core 5.0.1 has a
 * profile, to that profile. Tests that exercise storage, search or HTTP start from these so
 * validation never gets in their way; validation tests break them on purpose.
 */
import * as usCore from './fixtures/us-core.js';

type Json = Record<string, unknown>;

export const patient = (extra: Json = {}): Json => ({
  resourceType: 'Patient',
  identifier: [{ system: 'urn:oid:1.2.36.146.595.217.0.1', value: '12345' }],
  name: [{ family: 'Chalmers', given: ['Peter'] }],
  gender: 'male',
  birthDate: '1974-12-25',
  ...extra,
});

export const practitioner = (extra: Json = {}): Json => ({
  resourceType: 'Practitioner',
  identifier: [{ system: 'http://hl7.org/fhir/sid/us-npi', value: '9941339108' }],
  name: [{ family: 'Careful', given: ['Adam'], prefix: ['Dr'] }],
  ...extra,
});

export const organization = (extra: Json = {}): Json => ({
  resourceType: 'Organization',
  identifier: [{ system: 'http://hl7.org/fhir/sid/us-npi', value: '1144221847' }],
  active: true,
  name: 'Telehealth Clinic',
  ...extra,
});

export const encounter = (subject = 'Patient/example', extra: Json = {}): Json => ({
  resourceType: 'Encounter',
  status: 'finished',
  class: {
    system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode',
    code: 'VR',
    display: 'virtual',
  },
  type: [
    {
      coding: [
        { system: 'http://snomed.info/sct', code: '185317003', display: 'Telephone encounter' },
      ],
    },
  ],
  subject: { reference: subject },
  period: { start: '2024-01-10T09:00:00Z', end: '2024-01-10T09:30:00Z' },
  ...extra,
});

export const medication = (extra: Json = {}): Json => ({
  resourceType: 'Medication',
  code: { coding: [{ system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: '1049221' }] },
  ...extra,
});

export const medicationRequest = (subject = 'Patient/example', extra: Json = {}): Json => ({
  resourceType: 'MedicationRequest',
  status: 'active',
  intent: 'order',
  medicationCodeableConcept: {
    coding: [
      {
        system: 'http://www.nlm.nih.gov/research/umls/rxnorm',
        code: '1049221',
        display: 'Acetaminophen 325 MG',
      },
    ],
  },
  subject: { reference: subject },
  authoredOn: '2024-01-10',
  requester: { reference: 'Practitioner/example' },
  ...extra,
});

export const documentReference = (subject = 'Patient/example', extra: Json = {}): Json => ({
  resourceType: 'DocumentReference',
  status: 'current',
  type: {
    coding: [{ system: 'http://loinc.org', code: '34133-9', display: 'Summary of episode note' }],
  },
  category: [
    {
      coding: [
        {
          system: 'http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category',
          code: 'clinical-note',
        },
      ],
    },
  ],
  subject: { reference: subject },
  date: '2024-01-10T10:00:00Z',
  content: [{ attachment: { contentType: 'text/plain', url: 'Binary/example' } }],
  ...extra,
});

export const observation = (subject = 'Patient/example', extra: Json = {}): Json => ({
  resourceType: 'Observation',
  status: 'final',
  category: [
    {
      coding: [
        {
          system: 'http://terminology.hl7.org/CodeSystem/observation-category',
          code: 'laboratory',
        },
      ],
    },
  ],
  code: { coding: [{ system: 'http://loinc.org', code: '2339-0', display: 'Glucose' }] },
  subject: { reference: subject },
  effectiveDateTime: '2024-01-10T09:00:00Z',
  valueQuantity: { value: 95, unit: 'mg/dL', system: 'http://unitsofmeasure.org', code: 'mg/dL' },
  ...extra,
});

export const appointment = (
  patientRef = 'Patient/example',
  practitionerRef = 'Practitioner/example',
  extra: Json = {},
): Json => ({
  resourceType: 'Appointment',
  status: 'booked',
  start: '2030-01-10T09:00:00Z',
  end: '2030-01-10T09:30:00Z',
  participant: [
    { actor: { reference: patientRef }, status: 'accepted' },
    { actor: { reference: practitionerRef }, status: 'accepted' },
  ],
  ...extra,
});

export const schedule = (actor = 'Practitioner/example', extra: Json = {}): Json => ({
  resourceType: 'Schedule',
  active: true,
  actor: [{ reference: actor }],
  ...extra,
});

export const slot = (scheduleRef = 'Schedule/example', extra: Json = {}): Json => ({
  resourceType: 'Slot',
  schedule: { reference: scheduleRef },
  status: 'free',
  start: '2030-01-10T09:00:00Z',
  end: '2030-01-10T09:30:00Z',
  ...extra,
});

export const provenance = (target = 'MedicationRequest/example', extra: Json = {}): Json => ({
  resourceType: 'Provenance',
  target: [{ reference: target }],
  recorded: '2024-01-10T10:00:00Z',
  agent: [{ who: { reference: 'Practitioner/example' } }],
  ...extra,
});

export const practitionerRole = (extra: Json = {}): Json => ({
  resourceType: 'PractitionerRole',
  active: true,
  practitioner: { reference: 'Practitioner/example' },
  organization: { reference: 'Organization/example' },
  ...extra,
});

export const relatedPerson = (patientRef = 'Patient/example', extra: Json = {}): Json => ({
  resourceType: 'RelatedPerson',
  patient: { reference: patientRef },
  name: [{ family: 'Chalmers', given: ['Jane'] }],
  ...extra,
});

export const communication = (subject = 'Patient/example', extra: Json = {}): Json => ({
  resourceType: 'Communication',
  status: 'completed',
  subject: { reference: subject },
  payload: [{ contentString: 'Your results are ready to view' }],
  ...extra,
});

/** A valid resource of each writable type, by type. */
export const validResources: Record<string, () => Json> = {
  Patient: () => patient(),
  Encounter: () => encounter(),
  MedicationRequest: () => medicationRequest(),
  DocumentReference: () => documentReference(),
  Appointment: () => appointment(),
  Practitioner: () => practitioner(),
  PractitionerRole: () => practitionerRole(),
  Organization: () => organization(),
  Schedule: () => schedule(),
  Slot: () => slot(),
  Provenance: () => provenance(),
  Observation: () => observation(),
  Medication: () => medication(),
  RelatedPerson: () => relatedPerson(),
  Communication: () => communication(),
  Binary: () => ({ resourceType: 'Binary', contentType: 'text/plain', data: 'aGVsbG8=' }),
  AllergyIntolerance: () => usCore.allergyIntolerance(),
  CarePlan: () => usCore.carePlan(),
  CareTeam: () => usCore.careTeam(),
  Condition: () => usCore.conditionProblem(),
  Device: () => usCore.implantableDevice(),
  DiagnosticReport: () => usCore.diagnosticReportLab(),
  Goal: () => usCore.goal(),
  Immunization: () => usCore.immunization(),
  Location: () => usCore.location(),
  Procedure: () => usCore.procedure(),
  QuestionnaireResponse: () => usCore.questionnaireResponse(),
  ServiceRequest: () => usCore.serviceRequest(),
  Endpoint: () => usCore.endpoint(),
  Group: () => usCore.group(),
};
