/** The REST interactions of R4's CapabilityStatement (TypeRestfulInteraction) that we serve. */
export type Interaction =
  | 'read'
  | 'vread'
  | 'update'
  | 'delete'
  | 'history-instance'
  | 'history-type'
  | 'create'
  | 'search-type';

const READ: readonly Interaction[] = [
  'read',
  'vread',
  'history-instance',
  'history-type',
  'search-type',
];
const READ_WRITE: readonly Interaction[] = [...READ, 'create', 'update', 'delete'];

/**
 * Every resource type the server serves and what it allows on each. The routes and the
 * CapabilityStatement both read this one table, so the statement can't promise what isn't wired.
 * AuditEvent is written only by the server itself.
 */
export const RESOURCE_TYPES: ReadonlyMap<string, readonly Interaction[]> = new Map([
  ['Patient', READ_WRITE],
  ['Encounter', READ_WRITE],
  ['MedicationRequest', READ_WRITE],
  ['DocumentReference', READ_WRITE],
  ['Appointment', READ_WRITE],
  ['AuditEvent', READ],
  // Messages to a patient or practitioner; the server records each reminder it sends as one.
  ['Communication', READ_WRITE],
  ['Practitioner', READ_WRITE],
  ['PractitionerRole', READ_WRITE],
  ['Organization', READ_WRITE],
  ['Schedule', READ_WRITE],
  ['Slot', READ_WRITE],
  ['Provenance', READ_WRITE],
  ['Observation', READ_WRITE],
  ['Medication', READ_WRITE],
  ['RelatedPerson', READ_WRITE],
  // The rest of US Core 5.0.1's server types, and the two its test kit reaches besides:
  // Endpoint (PractitionerRole:endpoint) and Group (bulk data cohorts).
  ['AllergyIntolerance', READ_WRITE],
  ['CarePlan', READ_WRITE],
  ['CareTeam', READ_WRITE],
  ['Condition', READ_WRITE],
  ['Device', READ_WRITE],
  ['DiagnosticReport', READ_WRITE],
  ['Goal', READ_WRITE],
  ['Immunization', READ_WRITE],
  ['Location', READ_WRITE],
  ['Procedure', READ_WRITE],
  ['QuestionnaireResponse', READ_WRITE],
  ['ServiceRequest', READ_WRITE],
  ['Endpoint', READ_WRITE],
  ['Group', READ_WRITE],
  // Its bytes live in the blob store; src/rest/binary.ts serves them (see src/fhir/binary.ts).
  ['Binary', READ_WRITE],
]);

/** FHIR's id datatype. */
export const ID_PATTERN = /^[A-Za-z0-9\-.]{1,64}$/;
