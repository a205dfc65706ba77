import type { FastifyInstance, FastifyRequest } from 'fastify';
import { principalFrom, type TokenClaims } from '../auth/claims.js';
import { parseScopes, type ResourceScope } from '../auth/scopes.js';
import { OAuthError } from './errors.js';
import { ADMIN_SCOPE } from './pending.js';

/**
 * The scope an ADMIN user may grant an app at sign-in (it is offered to no one else, and only
 * when the app asked for it) so the app's token administers the authorization server.
 */
export { ADMIN_SCOPE };

/**
 * Who may administer the authorization server, and how far:
 * - `operator`: an ADMIN token that no app obtained (`npm run token`, the development secret),
 *   or an app's token an ADMIN user explicitly granted `telefhir/oauth.admin` — any client,
 *   any token;
 * - `service`: a backend service's token (system/ scopes, no role) — it registers clients with
 *   no more than its own system/ scopes, and introspects or revokes only its own client's
 *   tokens when it is a registered client's.
 */
export type AdminCaller =
  | { kind: 'operator'; claims: TokenClaims }
  | { kind: 'service'; claims: TokenClaims; clientId?: string; scopes: ResourceScope[] };

const scopesOf = (claims: TokenClaims) =>
  typeof claims.scope === 'string' ? claims.scope.split(' ') : [];

/**
 * Whether an app got this token through a user's sign-in (the code flow): it names a client
 * and a user — a role, a fhirUser, or a subject that isn't the client itself. A client
 * credentials token's subject is its client.
 */
export function fromUserSignIn(claims: TokenClaims): boolean {
  if (typeof claims.client_id !== 'string') return false;
  return (
    claims.role != null ||
    claims['cognito:groups'] != null ||
    claims.fhirUser != null ||
    claims.sub !== claims.client_id
  );
}

/** How a verified token may administer the authorization server; undefined: not at all. */
export function administers(claims: TokenClaims): AdminCaller | undefined {
  const principal = principalFrom(claims);
  const admin = principal.roles.includes('ADMIN');
  if (fromUserSignIn(claims)) {
    // An app's token: never an administrator by the user's role alone.
    return admin && scopesOf(claims).includes(ADMIN_SCOPE)
      ? { kind: 'operator', claims }
      : undefined;
  }
  if (admin) return { kind: 'operator', claims };
  const roleless = claims.role == null && claims['cognito:groups'] == null;
  const system = principal.scopes.resources.filter((scope) => scope.context === 'system');
  if (!roleless || principal.roles.length > 0 || system.length === 0) return undefined;
  return {
    kind: 'service',
    claims,
    scopes: system,
    ...(typeof claims.client_id === 'string' ? { clientId: claims.client_id } : {}),
  };
}

/**
 * Whether `held` (a caller's system/ scopes) covers the scope `wanted`: the same scope, or one
 * of the same context for every type or the same type, allowing every interaction it does and
 * no narrower by a filter (`system/*.cruds` covers `system/Patient.rs`).
 */
export function covers(held: ResourceScope[], wanted: string): boolean {
  const parsed = parseScopes(wanted);
  const [scope] = parsed.resources;
  // One scope token, read as itself, or only the very same scope covers it.
  if (!scope || parsed.resources.length !== 1 || scope.raw !== wanted) {
    return held.some((h) => h.raw === wanted);
  }
  return held.some(
    (h) =>
      h.raw === wanted ||
      (h.context === scope.context &&
        (h.type === '*' || h.type === scope.type) &&
        [...scope.interactions].every((i) => h.interactions.has(i)) &&
        (h.filter === undefined || h.filter.toString() === scope.filter?.toString())),
  );
}

/**
 * The request's bearer token, verified as the FHIR API verifies it (revocation included), and
 * held to `administers`: 401 invalid_token without a good one, 403 insufficient_scope when it
 * may not. In OAuth's words (RFC 6750 §3), never as an OperationOutcome.
 */
export async function adminCaller(
  app: FastifyInstance,
  request: FastifyRequest,
): Promise<AdminCaller> {
  if (!/^Bearer\s/i.test(request.headers.authorization ?? '')) {
    throw new OAuthError(401, 'invalid_token', 'a bearer token is required', {
      'www-authenticate': 'Bearer realm="telefhir"',
    });
  }
  let claims: TokenClaims;
  try {
    claims = await app.verifyBearer(request);
  } catch {
    throw new OAuthError(401, 'invalid_token', 'the bearer token is not valid', {
      'www-authenticate': 'Bearer realm="telefhir", error="invalid_token"',
    });
  }
  const caller = administers(claims);
  if (!caller) {
    throw new OAuthError(
      403,
      'insufficient_scope',
      `an ADMIN or system/ token is required (an app's token: ${ADMIN_SCOPE})`,
      { 'www-authenticate': 'Bearer realm="telefhir", error="insufficient_scope"' },
    );
  }
  return caller;
}
