/**
 * The rows the retention purge may remove: current rows of the given types last updated before
 * their type's cut-off, AuditEvents never, and none under legal hold (lifecycle/legal-hold.ts).
 */
import type { Sql } from '../../db/database.js';
import { LEGAL_HOLD } from '../../lifecycle/legal-hold.js';

export interface DueRow {
  resource_type: string;
  id: string;
  deleted: boolean;
  last_updated: string | Date;
}

/** SQL: whether the resource at `alias` (resource_type, id columns) is held. */
const heldSql = (alias: string) => `EXISTS (
  SELECT 1 FROM (
    SELECT lh.content FROM resource_history lh
    WHERE lh.resource_type = ${alias}.resource_type AND lh.id = ${alias}.id
      AND lh.content IS NOT NULL
    ORDER BY lh.version_id DESC LIMIT 1
  ) latest
  WHERE (latest.content::jsonb -> 'meta' -> 'tag') @> '[{"code": "${LEGAL_HOLD}"}]'::jsonb
)`;

/** `lock`: FOR UPDATE, so a purge and a concurrent write can't both win. */
export async function dueRows(
  sql: Sql,
  types: string[],
  cutoffs: string[],
  lock: boolean,
): Promise<DueRow[]> {
  return sql.query<DueRow>(
    `SELECT c.resource_type, c.id, c.deleted, c.last_updated
     FROM resource_current c
     JOIN unnest($1::text[], $2::timestamptz[]) AS p(resource_type, cutoff)
       ON p.resource_type = c.resource_type
     WHERE c.resource_type <> 'AuditEvent' AND c.last_updated < p.cutoff
       AND NOT ${heldSql('c')}
     ORDER BY c.resource_type, c.id
     ${lock ? 'FOR UPDATE OF c' : ''}`,
    [types, cutoffs],
  );
}
