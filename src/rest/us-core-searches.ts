/**
 * The searches US Core 5.0.1's server CapabilityStatement (us-core-server) asks of each type:
 * the single parameters and combinations a server SHALL support, and those it SHOULD. Inferno's
 * US Core kit sends exactly these (with date comparators and comma OR-lists). The
 * CapabilityStatement lists a combination only when every parameter in it is indexed here
 * (capabilities.ts checks each against the search registry), and test/search/us-core-searches
 * runs every one of them against both stores.
 */
export type Expectation = 'SHALL' | 'SHOULD';

export interface UsCoreSearch {
  params: readonly string[];
  expectation: Expectation;
}

const shall = (...params: string[]): UsCoreSearch => ({ params, expectation: 'SHALL' });
const should = (...params: string[]): UsCoreSearch => ({ params, expectation: 'SHOULD' });

export const US_CORE_SERVER = 'http://hl7.org/fhir/us/core/CapabilityStatement/us-core-server';

export const US_CORE_SEARCHES: Readonly<Record<string, readonly UsCoreSearch[]>> = {
  AllergyIntolerance: [shall('patient'), should('patient', 'clinical-status')],
  CarePlan: [
    shall('patient', 'category'),
    should('patient', 'category', 'date'),
    should('patient', 'category', 'status'),
    should('patient', 'category', 'status', 'date'),
  ],
  CareTeam: [shall('patient', 'status'), should('patient', 'role')],
  Condition: [
    shall('patient'),
    should('patient', 'category'),
    should('patient', 'clinical-status'),
    should('patient', 'onset-date'),
    should('patient', 'asserted-date'),
    should('patient', 'recorded-date'),
    should('patient', 'abatement-date'),
    should('patient', 'code'),
    should('patient', 'category', 'encounter'),
  ],
  Device: [shall('patient'), should('patient', 'type')],
  DiagnosticReport: [
    shall('patient'),
    shall('patient', 'category'),
    shall('patient', 'code'),
    shall('patient', 'category', 'date'),
    should('patient', 'status'),
    should('patient', 'code', 'date'),
  ],
  DocumentReference: [
    shall('_id'),
    shall('patient'),
    shall('patient', 'category'),
    shall('patient', 'category', 'date'),
    shall('patient', 'type'),
    should('patient', 'status'),
    should('patient', 'type', 'period'),
  ],
  Encounter: [
    shall('_id'),
    shall('patient'),
    shall('date', 'patient'),
    should('identifier'),
    should('class', 'patient'),
    should('patient', 'type'),
    should('patient', 'status'),
  ],
  Goal: [
    shall('patient'),
    should('patient', 'lifecycle-status'),
    should('patient', 'target-date'),
    should('patient', 'description'),
  ],
  Immunization: [shall('patient'), should('patient', 'date'), should('patient', 'status')],
  Location: [
    shall('name'),
    shall('address'),
    should('address-city'),
    should('address-state'),
    should('address-postalcode'),
  ],
  MedicationRequest: [
    shall('patient', 'intent'),
    shall('patient', 'intent', 'status'),
    should('patient', 'intent', 'encounter'),
    should('patient', 'intent', 'authoredon'),
  ],
  Observation: [
    shall('patient', 'category'),
    shall('patient', 'code'),
    shall('patient', 'category', 'date'),
    should('patient', 'category', 'status'),
    should('patient', 'code', 'date'),
  ],
  Organization: [shall('name'), shall('address')],
  Patient: [
    shall('_id'),
    shall('identifier'),
    shall('name'),
    shall('birthdate', 'name'),
    shall('gender', 'name'),
    should('family', 'gender'),
    should('birthdate', 'family'),
  ],
  Practitioner: [shall('name'), shall('identifier')],
  PractitionerRole: [shall('specialty'), shall('practitioner')],
  Procedure: [
    shall('patient'),
    shall('patient', 'date'),
    should('patient', 'code', 'date'),
    should('patient', 'status'),
  ],
  QuestionnaireResponse: [
    shall('_id'),
    shall('patient'),
    should('patient', 'questionnaire'),
    should('patient', 'status'),
    should('patient', 'authored'),
  ],
  RelatedPerson: [shall('_id'), shall('patient'), should('name'), should('patient', 'name')],
  ServiceRequest: [
    shall('_id'),
    shall('patient'),
    shall('patient', 'category'),
    shall('patient', 'code'),
    shall('patient', 'category', 'authored'),
    should('patient', 'status'),
    should('patient', 'code', 'authored'),
  ],
};

/** `_include`s US Core names, by the type searched. */
export const US_CORE_INCLUDES: Readonly<Record<string, readonly string[]>> = {
  MedicationRequest: ['MedicationRequest:medication'],
  PractitionerRole: ['PractitionerRole:endpoint', 'PractitionerRole:practitioner'],
};
