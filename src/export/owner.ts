/**
 * Whose a job is: the issuer, subject and client that started it, and a fingerprint of the
 * whole grant (SHA-256 of the canonical grant facts: issuer, subject, client id, roles, scopes,
 * patient, fhirUser). Status, downloads and cancel answer 404 to a token whose fingerprint
 * differs, so a grant narrowed since kick-off (another patient launched, fewer scopes, a role
 * gone) sees nothing of the job. Kept in the job's grant_facts (`iss`, `fingerprint`), which the
 * policy rebuild ignores.
 */
import { createHash } from 'node:crypto';
import type { Principal, TokenClaims } from '../auth/claims.js';

export interface JobOwner {
  issuer: string;
  clientId: string;
  subject: string;
  fingerprint: string;
}

export function ownerOf(claims: TokenClaims, principal: Principal): JobOwner {
  const issuer = typeof claims.iss === 'string' ? claims.iss : '';
  const clientId = principal.clientId ?? '';
  const canonical = JSON.stringify([
    issuer,
    principal.subject,
    clientId,
    [...principal.roles].sort(),
    [...principal.scopes.resources.map((scope) => scope.raw), ...principal.scopes.other].sort(),
    principal.patient ?? '',
    principal.fhirUser ? `${principal.fhirUser.type}/${principal.fhirUser.id}` : '',
  ]);
  const fingerprint = createHash('sha256').update(canonical).digest('hex');
  return { issuer, clientId, subject: principal.subject, fingerprint };
}
