import type { FastifyInstance, FastifyRequest } from 'fastify';
import { principalFrom, type TokenClaims } from '../auth/claims.js';
import { OAuthError } from './errors.js';

/**
 * Whether a verified token may administer the authorization server (register clients,
 * introspect any token): an ADMIN user's, or a backend service's (system/ scopes, no role;
 * a user's token with a role never counts as a service, whatever scopes it carries).
 */
export function administers(claims: TokenClaims): boolean {
  const principal = principalFrom(claims);
  if (principal.roles.includes('ADMIN')) return true;
  const roleless = claims.role == null && claims['cognito:groups'] == null;
  const scopes = typeof claims.scope === 'string' ? claims.scope.split(' ') : [];
  return roleless && principal.roles.length === 0 && scopes.some((s) => s.startsWith('system/'));
}

/**
 * The request's bearer token, verified as the FHIR API verifies it (revocation included), and
 * held to `administers`: 401 invalid_token without a good one, 403 insufficient_scope when it
 * may not. In OAuth's words (RFC 6750 §3), never as an OperationOutcome.
 */
export async function adminCaller(
  app: FastifyInstance,
  request: FastifyRequest,
): Promise<TokenClaims> {
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
  if (!administers(claims)) {
    throw new OAuthError(403, 'insufficient_scope', 'an ADMIN or system/ token is required', {
      'www-authenticate': 'Bearer realm="telefhir", error="insufficient_scope"',
    });
  }
  return claims;
}
