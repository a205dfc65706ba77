/**
 * Legal hold: a `legal-hold` code in meta.tag (any system) keeps a resource from the retention
 * purge and its patient from $expunge. What counts is the resource's latest content: the current
 * version, or for a deleted resource the version before its deletion (deleting a held resource
 * doesn't lift the hold; removing the tag in an update does).
 */
import type { Resource } from 'fhir/r4.js';

export const LEGAL_HOLD = 'legal-hold';

export function isHeld(resource: Resource | undefined): boolean {
  return (resource?.meta?.tag ?? []).some((tag) => tag.code === LEGAL_HOLD);
}

/** SQL: whether the resource at `alias` (resource_type, id columns) is held. */
export const heldSql = (alias: string) => `EXISTS (
  SELECT 1 FROM (
    SELECT lh.content FROM resource_history lh
    WHERE lh.resource_type = ${alias}.resource_type AND lh.id = ${alias}.id
      AND lh.content IS NOT NULL
    ORDER BY lh.version_id DESC LIMIT 1
  ) latest
  WHERE (latest.content::jsonb -> 'meta' -> 'tag') @> '[{"code": "${LEGAL_HOLD}"}]'::jsonb
)`;
