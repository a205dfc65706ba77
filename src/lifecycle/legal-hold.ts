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
