/**
 * Who a Subscription belongs to, and the grant it delivers under. The creating token's claims
 * that make a grant are kept with the Subscription; each notification is read under the
 * policy they build when it is delivered, so a subscriber never receives what its owner could
 * not read at that moment through the REST API.
 */
import { principalFrom, type TokenClaims } from '../auth/claims.js';
import { buildPolicy, type AccessPolicy, type PolicyOptions } from '../auth/policy.js';

const GRANT_CLAIMS = [
  'sub',
  'iss',
  'scope',
  'patient',
  'fhirUser',
  'role',
  'cognito:groups',
  'client_id',
  'azp',
] as const;

export type GrantClaims = Partial<Pick<TokenClaims, (typeof GRANT_CLAIMS)[number]>>;

/** The claims that decide a grant, nothing else (no exp: a grant outlives its token). */
export function grantClaimsOf(claims: TokenClaims): GrantClaims {
  const kept: Record<string, unknown> = {};
  for (const name of GRANT_CLAIMS) if (claims[name] !== undefined) kept[name] = claims[name];
  return kept as GrantClaims;
}

/** The owner key: issuer and subject (a client id for backend services). */
export function ownerOf(claims: TokenClaims): string {
  const principal = principalFrom(claims);
  const issuer = typeof claims.iss === 'string' ? claims.iss : '';
  return `${issuer} ${principal.subject}`;
}

/** The owner's policy as it stands now (break-glass never carries over). */
export function ownerPolicy(claims: GrantClaims, options: PolicyOptions): AccessPolicy {
  return buildPolicy(principalFrom(claims as TokenClaims), options);
}
