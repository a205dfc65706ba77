/**
 * Which patients' compartments a Provenance is in. R4 says: the patient its `patient` parameter
 * names, a target that is itself a Patient. That leaves a Provenance of a patient's Condition
 * (the usual kind, and what US Core's `_revinclude=Provenance:target` asks for) out of every
 * patient's compartment, and puts one naming `Patient/a` beside `Condition/of-b` in a's, where
 * a reads what was done to b's data.
 *
 * telefhir's rule: a Provenance is in a patient's compartment when EVERY target is. It says
 * what happened to its targets (who, when, from what), so whoever may see all of them may see
 * it, and nobody else: one naming two patients' data is in neither compartment (only grants
 * over every patient see it); one naming directory data, a target that doesn't exist (yet) or
 * one we can't resolve (`urn:uuid:`, an external URL) is in none. A union would let each
 * patient read what was done to the other's data; the intersection leaks nothing.
 *
 * It is worked out when the Provenance is written, from its targets as they are then (each
 * read unrestricted, its patients computed as for any resource: write-reach.ts), and recorded
 * in `meta.extension` (provenance-patient, valueReference), like a Binary's owner. The
 * `target-patient` search parameter indexes it, so the compartment SQL, the write-reach check,
 * HealthLake's checks and the audit trail's patients all read it from the resource alone. A
 * client's copy is dropped on every write. A target moved to another patient later doesn't
 * move its Provenances: they stay with the patient whose data they recorded.
 */
import type { Extension, Provenance, Resource } from 'fhir/r4.js';
import { parseReference } from '../search/references.js';
import { patientsOfResource } from './write-reach.js';

export const PROVENANCE_PATIENT_URL =
  'http://telefhir.dev/fhir/StructureDefinition/provenance-patient';

/** Beyond this many targets a Provenance is left in no compartment rather than read them all. */
const MAX_TARGETS = 100;

/** The current version of a resource, unrestricted; undefined when absent or deleted. */
export type TargetReader = (type: string, id: string) => Promise<Resource | undefined>;

/** The patients whose compartment holds every target (none if any target is in none). */
async function patientsOfEveryTarget(provenance: Provenance, read: TargetReader) {
  const targets = new Map<string, [string, string]>();
  for (const target of provenance.target ?? []) {
    const parsed = target.reference ? parseReference(target.reference) : undefined;
    if (!parsed?.targetType || !parsed.targetId) return [];
    targets.set(`${parsed.targetType}/${parsed.targetId}`, [parsed.targetType, parsed.targetId]);
  }
  if (targets.size === 0 || targets.size > MAX_TARGETS) return [];
  let shared: Set<string> | undefined;
  for (const [type, id] of targets.values()) {
    const found = await read(type, id);
    const patients = found ? patientsOfResource(found) : new Set<string>();
    shared = shared ? new Set([...shared].filter((p) => patients.has(p))) : patients;
    if (shared.size === 0) return [];
  }
  return [...(shared ?? [])].sort();
}

/**
 * The Provenance to store: the client's provenance-patient extensions dropped, the server's
 * recorded. Any other resource is returned as it is.
 */
export async function withTargetPatients(
  resource: Resource,
  read: TargetReader,
): Promise<Resource> {
  if (resource.resourceType !== 'Provenance') return resource;
  const { meta, ...rest } = resource;
  const kept = (meta?.extension ?? []).filter((e) => e.url !== PROVENANCE_PATIENT_URL);
  const ours: Extension[] = (await patientsOfEveryTarget(resource as Provenance, read)).map(
    (id) => ({
      url: PROVENANCE_PATIENT_URL,
      valueReference: { reference: `Patient/${id}` },
    }),
  );
  const extension = [...kept, ...ours];
  const { extension: _clients, ...metaRest } = meta ?? {};
  const stored = { ...metaRest, ...(extension.length ? { extension } : {}) };
  return { ...rest, ...(Object.keys(stored).length ? { meta: stored } : {}) } as Resource;
}
