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
  const header = request.headers['x-break-glass'];
  const reason = Array.isArray(header) ? header[0] : header;
  return buildPolicy(principalFrom(request.user), options, reason);
}

const forbidden = (why: string) =>
  new FhirError(403, 'forbidden', why, undefined, {
    'www-authenticate': 'Bearer realm="telefhir", error="insufficient_scope"',
  });

/**
 * The grant for `access` to `type`, or 403. Until the store enforces compartments and
 * fine-grained filters in its queries, a grant limited by either is refused: the server fails
 * closed rather than show a patient-scoped token more than its compartment.
 */
export function authorize(policy: AccessPolicy, type: string, access: Access): TypeGrant {
  const grant = policy.grant(type, access);
  if (!grant) throw forbidden(`The token's scopes and role do not allow ${access} on ${type}`);
  const unrestricted =
    grant.compartments.some((c) => c.kind === 'all') && grant.filters.length === 0;
  if (!unrestricted) {
    throw forbidden(`${access} on ${type} limited to a compartment or filter is not available yet`);
  }
  return grant;
}

/** System-level interactions (history across types) need unrestricted read on every type. */
export function authorizeSystem(policy: AccessPolicy): void {
  for (const type of RESOURCE_TYPES.keys()) {
    if (policy.grant(type, 'read')) authorize(policy, type, 'read');
    else throw forbidden(`System-wide history needs read access to every type (not ${type})`);
  }
}
