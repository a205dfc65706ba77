import type { Resource } from 'fhir/r4.js';
import { PATIENT_ITSELF, patientsNamedParams } from '../auth/compartment.js';
import { extractIndexValuesFor } from '../search/extract.js';
import { searchParam, type SearchParamDef } from '../search/registry.js';

const definitions = new Map<string, SearchParamDef[]>();

/** The compartment-defining search parameters of a type, looked up once. */
function linksOf(type: string): SearchParamDef[] {
  let defs = definitions.get(type);
  if (!defs) {
    defs = patientsNamedParams(type)
      .filter((code) => code !== PATIENT_ITSELF)
      .flatMap((code) => searchParam(type, code) ?? []);
    definitions.set(type, defs);
  }
  return defs;
}

/**
 * The patients whose compartment a resource is in, as `Patient/id` references: the Patient
 * itself, or the patients its compartment parameters (R4 CompartmentDefinition) refer to, or
 * for a Group, closed to compartments, its members (compartment.ts `patientsNamedParams`). The
 * audit trail records them so `AuditEvent?patient=` finds every access to a patient's data.
 */
export function patientsOf(resource: Resource, baseUrl?: string): string[] {
  const found = new Set<string>();
  if (resource.resourceType === 'Patient' && resource.id) found.add(`Patient/${resource.id}`);
  const values = extractIndexValuesFor(
    resource as Resource & Record<string, unknown>,
    linksOf(resource.resourceType),
    baseUrl,
  );
  for (const ref of values.references) {
    if (ref.targetType === 'Patient' && ref.targetId) found.add(`Patient/${ref.targetId}`);
  }
  return [...found];
}
