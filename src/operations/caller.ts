/**
 * Who the caller of an operation is, in the terms the operations' rules use. Operations decide
 * their own authorization (a PATIENT may book for themself though REST gives them no writes),
 * but always on the same token facts the access policy reads.
 */
import type { Principal, Role } from '../auth/claims.js';
import type { Interaction } from '../auth/scopes.js';
import { FhirError } from '../fhir/errors.js';

export const forbidden = (why: string) =>
  new FhirError(403, 'forbidden', why, undefined, {
    'www-authenticate': 'Bearer realm="telefhir", error="insufficient_scope"',
  });

/**
 * A scope allows `interaction` on `type` for the patients the operation acts on: user/ and
 * system/ scopes for any (the role decides), a patient/ scope only when the operation is about
 * its launch patient (`patient/Appointment.c` books for that patient and nobody else).
 */
export function scopeAllows(
  principal: Principal,
  type: string,
  interaction: Interaction,
  patients: readonly string[],
): boolean {
  return principal.scopes.resources.some(
    (scope) =>
      (scope.type === '*' || scope.type === type) &&
      scope.interactions.has(interaction) &&
      (scope.context !== 'patient' ||
        (principal.patient !== undefined && patients.includes(principal.patient))),
  );
}

/** The patient ids among references such as an Appointment's actors (`Patient/x`). */
export const patientIds = (references: readonly string[]): string[] =>
  references.flatMap((ref) => (ref.startsWith('Patient/') ? [ref.slice('Patient/'.length)] : []));

/** A backend service: system/ scopes and no user role. */
export function isBackend(principal: Principal): boolean {
  return (
    principal.roles.length === 0 &&
    principal.scopes.resources.some((scope) => scope.context === 'system')
  );
}

export const hasRole = (principal: Principal, ...roles: Role[]) =>
  principal.roles.some((role) => roles.includes(role));

/** The patient a PATIENT-role user is: their fhirUser Patient, else the launch `patient`. */
export function ownPatient(principal: Principal): string | undefined {
  return principal.fhirUser?.type === 'Patient' ? principal.fhirUser.id : principal.patient;
}

/** The caller's own FHIR reference (`Practitioner/x`), if its token names one. */
export function userReference(principal: Principal): string | undefined {
  return principal.fhirUser ? `${principal.fhirUser.type}/${principal.fhirUser.id}` : undefined;
}
