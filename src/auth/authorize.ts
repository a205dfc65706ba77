import type { FastifyRequest } from 'fastify';
import { FhirError } from '../fhir/errors.js';
import { RESOURCE_TYPES } from '../fhir/resource-types.js';
import { principalFrom } from './claims.js';
import {
  buildPolicy,
  type Access,
  type AccessPolicy,
  type PolicyOptions,
  type TypeGrant,
} from './policy.js';

/** The access policy of an authenticated request: its token's scopes and roles, and break-glass. */
export function policyOf(request: FastifyRequest, options: PolicyOptions): AccessPolicy {
  // The gate in authenticate.ts verified the token of every route not marked public; a request
  // without claims here means a route was wrongly marked, and must not run as nobody.
  if (!request.user) throw new FhirError(401, 'login', 'Authentication failed: no bearer token');
  const header = request.headers['x-break-glass'];
  const reason = Array.isArray(header) ? header[0] : header;
  return buildPolicy(principalFrom(request.user), options, reason);
}

const forbidden = (why: string) =>
  new FhirError(403, 'forbidden', why, undefined, {
    'www-authenticate': 'Bearer realm="telefhir", error="insufficient_scope"',
  });

/**
 * The grant for `access` to `type`, or 403. A grant limited to compartments or fine-grained
 * filters is enforced by the store, inside its queries (the request context carries the policy).
 */
export function authorize(policy: AccessPolicy, type: string, access: Access): TypeGrant {
  const grant = policy.grant(type, access);
  if (!grant) throw forbidden(`The token's scopes and role do not allow ${access} on ${type}`);
  return grant;
}

/**
 * System-level history lists what the caller may read of each type; it needs read access to
 * at least one. The store limits each type's entries to that type's grant.
 */
export function authorizeSystem(policy: AccessPolicy): void {
  if (!RESOURCE_TYPES.size || ![...RESOURCE_TYPES.keys()].some((t) => policy.grant(t, 'read'))) {
    throw forbidden('System-wide history needs read access to some type');
  }
}
