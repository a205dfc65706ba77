/**
 * Everything $expunge removes for a patient: the Patient itself, every resource whose latest
 * content (current version, or the last one before its deletion) is in the patient's
 * compartment (R4 CompartmentDefinition, src/auth/compartment.ts), and the Binaries that name
 * the patient as their owner. Deleted resources have no index rows left, so candidates are found
 * in history by the patient's reference and then checked with the search extractor, the same
 * way the index would have been built. Another Patient linking to this one is not taken, nor
 * are AuditEvents (they stay, and record the expunge).
 */
import type { Resource } from 'fhir/r4.js';
import { patientCompartmentParams } from '../../auth/compartment.js';
import type { ResourceKey } from '../../store/postgres/erase.js';
import { isHeld } from '../../lifecycle/legal-hold.js';
import { parseReference } from '../../search/references.js';
import { ownerOf } from '../../fhir/binary.js';
import type { Sql } from '../../db/database.js';
import { latestVersionsNaming } from '../../store/postgres/patient-history.js';
import { searchIndexer } from '../../store/postgres/search-indexer.js';

export interface Member extends ResourceKey {
  held: boolean;
}

function ownedBinary(resource: Resource, patientId: string, baseUrl: string): boolean {
  const reference = ownerOf(resource);
  const target = reference ? parseReference(reference, baseUrl) : undefined;
  return target?.targetType === 'Patient' && target.targetId === patientId;
}

function inCompartment(resource: Resource, patientId: string, baseUrl: string): boolean {
  if (resource.resourceType === 'Binary') return ownedBinary(resource, patientId, baseUrl);
  if (resource.resourceType === 'Patient') return resource.id === patientId;
  const params = new Set(patientCompartmentParams(resource.resourceType));
  if (!params.size) return false;
  return searchIndexer(baseUrl)
    .extract(resource)
    .references.some(
      (row) => params.has(row.code) && row.targetType === 'Patient' && row.targetId === patientId,
    );
}

export async function compartmentMembers(
  sql: Sql,
  patientId: string,
  baseUrl: string,
): Promise<Member[]> {
  const rows = await latestVersionsNaming(sql, patientId);
  return rows
    .filter((row) => inCompartment({ ...row.content, id: row.id }, patientId, baseUrl))
    .map((row) => ({ type: row.resource_type, id: row.id, held: isHeld(row.content) }));
}
