/**
 * For $expunge: the latest stored content (current version, or the last one before a deletion)
 * of every resource whose history ever mentions `Patient/<id>` in its text, and the Patient
 * itself. A coarse, complete net: deleted resources have no index rows left, so the caller
 * checks each candidate with the search extractor. AuditEvents are never candidates.
 */
import type { Resource } from 'fhir/r4.js';
import type { Sql } from '../../db/database.js';

export interface LatestRow {
  resource_type: string;
  id: string;
  content: Resource;
}

/** LIKE's own wildcards can't occur in an id (ID_PATTERN), but escape them all the same. */
const likeEscape = (text: string) => text.replace(/[\\%_]/g, (c) => `\\${c}`);

export async function latestVersionsNaming(sql: Sql, patientId: string): Promise<LatestRow[]> {
  return sql.query<LatestRow>(
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
}
