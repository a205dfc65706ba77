/** Shared by the policy tests: tokens in, grants described compactly. */
import { principalFrom, type TokenClaims } from '../../src/auth/claims.js';
import {
  buildPolicy,
  type Access,
  type AccessPolicy,
  type Compartment,
  type PolicyOptions,
} from '../../src/auth/policy.js';

export const ACCESSES: Access[] = ['create', 'read', 'update', 'delete', 'search'];
export const CLINICAL = [
  'Patient',
  'Encounter',
  'MedicationRequest',
  'DocumentReference',
  'Appointment',
  'Observation',
  'Provenance',
  'RelatedPerson',
  'Communication',
  'AllergyIntolerance',
  'CarePlan',
  'CareTeam',
  'Condition',
  'Device',
  'DiagnosticReport',
  'Goal',
  'Immunization',
  'Procedure',
  'QuestionnaireResponse',
  'ServiceRequest',
];
export const DIRECTORY = [
  'Practitioner',
  'PractitionerRole',
  'Organization',
  'Schedule',
  'Slot',
  'Medication',
  'Location',
  'Endpoint',
];
export const ALL: Compartment[] = [{ kind: 'all' }];
export const patients = (...ids: string[]): Compartment[] => [{ kind: 'patients', ids }];
export const linked = (practitioner: string): Compartment[] => [
  { kind: 'practitioner-linked', practitioner },
];

export function policyFor(
  claims: TokenClaims,
  options: Partial<PolicyOptions> = {},
  breakGlass?: string,
): AccessPolicy {
  return buildPolicy(principalFrom(claims), { providerScope: 'assigned', ...options }, breakGlass);
}

/** The accesses granted on a type, as c-r-u-d-s letters. */
export function letters(policy: AccessPolicy, type: string): string {
  return ACCESSES.filter((access) => policy.grant(type, access))
    .map((access) => access[0])
    .join('');
}

export function where(
  policy: AccessPolicy,
  type: string,
  access: Access,
): Compartment[] | undefined {
  return policy.grant(type, access)?.compartments;
}

export const provider = { sub: 'dr', role: 'PROVIDER', fhirUser: 'Practitioner/dr-1' };
