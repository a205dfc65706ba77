import { createHash } from 'node:crypto';
import type { AccessPolicy } from '../auth/policy.js';

/**
 * Who a paging cursor was made for, as a short digest of the token facts that decide what a
 * page may hold: who, which client, roles, scopes, launch context, break-glass. Search and the
 * read operations ($everything, $docref) seal it into their cursors and refuse a cursor whose
 * digest isn't the caller's, so one caller's page position never opens for another.
 */
export function callerDigest(policy: AccessPolicy): string {
  const { principal, breakGlass } = policy;
  const caller = JSON.stringify([
    principal.subject,
    principal.clientId ?? null,
    principal.roles,
    principal.scopes.resources.map((scope) => scope.raw),
    principal.fhirUser ?? null,
    principal.patient ?? null,
    breakGlass?.reason ?? null,
  ]);
  return createHash('sha256').update(caller).digest('base64url').slice(0, 22);
}
