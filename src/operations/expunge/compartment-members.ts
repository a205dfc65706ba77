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
import type { ResourceKey } from '../../lifecycle/erase.js';
import { isHeld } from '../../lifecycle/legal-hold.js';
import { parseReference } from '../../search/references.js';
import { ownerOf } from '../../fhir/binary.js';
import type { Sql } from '../../db/database.js';
import { searchIndexer } from '../../store/postgres/search-indexer.js';

export interface Member extends ResourceKey {
  held: boolean;
}

interface LatestRow {
  resource_type: string;
  id: string;
  content: Resource;
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

/** LIKE's own wildcards can't occur in an id (ID_PATTERN), but escape them all the same. */
const likeEscape = (text: string) => text.replace(/[\\%_]/g, (c) => `\\${c}`);

export async function compartmentMembers(
  sql: Sql,
  patientId: string,
  baseUrl: string,
): Promise<Member[]> {
  const rows = await sql.query<LatestRow>(
    `SELECT DISTINCT ON (h.resource_type, h.id) h.resource_type, h.id, h.content
     FROM resource_history h
     WHERE h.content IS NOT NULL AND h.resource_type <> 'AuditEvent'
       AND (h.resource_type, h.id) IN (
         SELECT c.resource_type, c.id FROM resource_history c
         WHERE c.resource_type <> 'AuditEvent'
           AND (c.content::text LIKE $1 OR (c.resource_type = 'Patient' AND c.id = $2))
       )
     ORDER BY h.resource_type, h.id, h.version_id DESC`,
    [`%Patient/${likeEscape(patientId)}%`, patientId],
  );
  return rows
    .filter((row) => inCompartment({ ...row.content, id: row.id }, patientId, baseUrl))
    .map((row) => ({ type: row.resource_type, id: row.id, held: isHeld(row.content) }));
}
