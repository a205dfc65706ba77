/**
 * Verified token claims → the Principal the policy reasons about. Claims arrive as parsed JSON
 * from whichever issuer is configured (Cognito, a SMART server, the development signer), so
 * every claim is checked for its runtime type: a claim of the wrong shape is treated as absent,
 * which can only ever grant less.
 */
import { ID_PATTERN } from '../fhir/resource-types.js';
import { parseScopes, type ParsedScopes } from './scopes.js';

export const ROLES = [
  'ADMIN',
  'PROVIDER',
  'NURSE',
  'RECEPTIONIST',
  'STAFF',
  'PATIENT',
  'GUARDIAN',
] as const;
export type Role = (typeof ROLES)[number];

export interface TokenClaims {
  sub?: string;
  iss?: string;
  aud?: string | string[];
  exp?: number;
  token_use?: string;
  scope?: string;
  patient?: string;
  fhirUser?: string;
  role?: string | string[];
  'cognito:groups'?: string[];
  client_id?: string;
  [k: string]: unknown;
}

export interface Principal {
  /** `sub`, else `client_id` (client-credentials tokens), else ''. */
  subject: string;
  clientId?: string;
  /** The user's own FHIR resource, from `fhirUser` (relative or absolute reference). */
  fhirUser?: { type: string; id: string };
  /** The `patient` launch-context claim only; never derived from fhirUser (see policy.ts). */
  patient?: string;
  roles: Role[];
  scopes: ParsedScopes;
}

/**
 * `Patient/123`, `https://host/fhir/Patient/123` or `.../Patient/123/_history/2`. The type and
 * id are the last two path segments, so a base URL of any depth works.
 */
const FHIR_USER = /(?:^|\/)([A-Z][A-Za-z]{0,63})\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/;

export function principalFrom(claims: TokenClaims): Principal {
  const sub = stringClaim(claims.sub);
  const clientId = stringClaim(claims.client_id) ?? stringClaim(claims.azp);
  const fhirUser = parseFhirUser(claims.fhirUser);
  const patient = stringClaim(claims.patient);
  const roles = rolesFrom(claims.role, claims['cognito:groups']);
  let scopes = parseScopes(scopeString(claims.scope));
  if (!roles.length && (claims.role != null || claims['cognito:groups'] != null)) {
    scopes = withoutSystemScopes(scopes);
  }
  const principal: Principal = { subject: sub ?? clientId ?? '', roles, scopes };
  if (clientId !== undefined) principal.clientId = clientId;
  if (fhirUser) principal.fhirUser = fhirUser;
  if (patient !== undefined && ID_PATTERN.test(patient)) principal.patient = patient;
  return principal;
}

export function parseFhirUser(value: unknown): { type: string; id: string } | undefined {
  if (typeof value !== 'string') return undefined;
  const match = FHIR_USER.exec(value.trim());
  if (!match) return undefined;
  return { type: match[1]!, id: match[2]! };
}

/**
 * Roles from `role` and `cognito:groups` together, upper-cased; groups that aren't telefhir
 * roles (Cognito pools often have others) are dropped rather than refused.
 */
function rolesFrom(...claims: unknown[]): Role[] {
  const found = new Set<string>();
  for (const claim of claims) {
    const values = Array.isArray(claim) ? claim : [claim];
    for (const value of values) {
      if (typeof value === 'string') found.add(value.trim().toUpperCase());
    }
  }
  return ROLES.filter((role) => found.has(role));
}

/**
 * A system/ scope with no role is a backend service's: the policy grants it what it names,
 * unlimited by any user. A token that carries a role claim came through a user's login, so when
 * none of its values (of any shape) is a telefhir role, the user's role is unknown, not absent:
 * its system/ scopes grant nothing, rather than a backend service's full access. Its user/ and
 * patient/ scopes already grant nothing without a role.
 */
function withoutSystemScopes(scopes: ParsedScopes): ParsedScopes {
  const system = scopes.resources.filter((scope) => scope.context === 'system');
  return {
    ...scopes,
    resources: scopes.resources.filter((scope) => scope.context !== 'system'),
    ignored: [...scopes.ignored, ...system.map((scope) => scope.raw)],
  };
}

/** Some issuers send scopes as an array (`scp`-style); both mean the same set. */
function scopeString(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return value.filter((v) => typeof v === 'string').join(' ');
  return undefined;
}

function stringClaim(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
}
