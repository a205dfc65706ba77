import type { Resource } from 'fhir/r4.js';
import type { WriteMethod } from '../store.js';
import type { Sql } from '../../db/database.js';

/** Server-owned meta first, in the order FHIR examples use; the client's meta is kept. */
export function stamp(
  resource: Resource,
  id: string,
  versionId: number,
  lastUpdated: string,
): Resource {
  const { resourceType, id: _clientId, meta, ...rest } = resource;
  return {
    resourceType,
    id,
    meta: { ...meta, versionId: String(versionId), lastUpdated },
    ...rest,
  } as Resource;
}

/**
 * Writes the next version of one resource: current row and history row in one statement. The
 * current row moves only from `version - 1`, so of two racing writers exactly one succeeds;
 * the loser gets false and decides whether to retry or answer 412.
 */
export async function writeVersion(
  sql: Sql,
  type: string,
  id: string,
  version: number,
  method: WriteMethod,
  resource: Resource | null,
  lastUpdated: string,
): Promise<boolean> {
  const rows = await sql.query(
    `WITH cur AS (
       INSERT INTO resource_current AS c (resource_type, id, version_id, last_updated, deleted, content)
       VALUES ($1, $2, $3, $4, $5, $6::json)
       ON CONFLICT (resource_type, id) DO UPDATE
         SET version_id = EXCLUDED.version_id, last_updated = EXCLUDED.last_updated,
             deleted = EXCLUDED.deleted, content = EXCLUDED.content
         WHERE c.version_id = EXCLUDED.version_id - 1
       RETURNING 1
     )
     INSERT INTO resource_history (resource_type, id, version_id, last_updated, method, content)
     SELECT $1, $2, $3, $4, $7, $6::json FROM cur
     RETURNING 1`,
    [
      type,
      id,
      version,
      lastUpdated,
      resource === null,
      resource && JSON.stringify(resource),
      method,
    ],
  );
  return rows.length === 1;
}
