/**
 * What a write may claim. A resource is in a patient's compartment by what it references, so a
 * write can put data under a patient, and an Encounter or Appointment naming a practitioner
 * links that practitioner to the patient: from then on PROVIDER access reaches them. Were the
 * write checked only after it is stored, a practitioner could link themself to anyone (post an
 * Encounter for a stranger naming themself as participant; it would be inside their grant as
 * soon as it exists). So every patient a new version belongs to must already be inside the
 * caller's grant as it stood before the write: assignment comes from someone who may already
 * write that patient's data (ADMIN, the front desk scheduling, `$book` for a patient the caller
 * may book for, or a practitioner already assigned), never from the write itself.
 */
import type { Resource } from 'fhir/r4.js';
import { extractIndexValues } from '../search/extract.js';
import { PATIENT_ITSELF, patientCompartmentParams } from './compartment.js';
import type { TypeGrant } from './policy.js';

/** Patient ids whose compartments a resource of its type is in (its own id for a Patient). */
export function patientsOfResource(resource: Resource): Set<string> {
  const params = patientCompartmentParams(resource.resourceType);
  const ids = new Set<string>();
  if (params.includes(PATIENT_ITSELF) && resource.id) ids.add(resource.id);
  const values = extractIndexValues(resource as Resource & Record<string, unknown>);
  for (const ref of values.references) {
    if (params.includes(ref.code) && ref.targetType === 'Patient' && ref.targetId)
      ids.add(ref.targetId);
  }
  return ids;
}

/**
 * The references that assign a practitioner to a resource's patients (PROVIDER access follows
 * them; store/postgres/access-sql.ts `patientSet` reads the same ones from the index).
 */
const ASSIGNING: Readonly<Record<string, readonly string[]>> = {
  Patient: ['general-practitioner'],
  Encounter: ['participant', 'practitioner'],
  Appointment: ['actor', 'practitioner'],
};

/** Ids of the practitioners a resource assigns to its patients (a GP, a participant). */
export function assignedPractitioners(resource: Resource): Set<string> {
  const found = new Set<string>();
  const codes = ASSIGNING[resource.resourceType];
  if (!codes) return found;
  const values = extractIndexValues(resource as Resource & Record<string, unknown>);
  for (const ref of values.references) {
    if (codes.includes(ref.code) && ref.targetType === 'Practitioner' && ref.targetId)
      found.add(ref.targetId);
  }
  return found;
}

/**
 * The patients that must be inside `grant` before `resource` (the new version, with its id) is
 * written: all it belongs to. A Patient's own id is exempt when it replaces a version the
 * caller could already see (checked separately), and when a practitioner registers a new
 * patient under their own care (it names them as GP): there is nothing of that patient yet.
 */
export function patientsToReach(
  resource: Resource,
  grant: TypeGrant,
  replacing: boolean,
): string[] {
  const patients = patientsOfResource(resource);
  if (resource.resourceType === 'Patient' && resource.id) {
    const mine = grant.compartments.flatMap((c) =>
      c.kind === 'practitioner-linked' ? [c.practitioner] : [],
    );
    const gps = assignedPractitioners(resource);
    if (replacing || mine.some((id) => gps.has(id))) patients.delete(resource.id);
  }
  return [...patients];
}
