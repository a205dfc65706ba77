/**
 * A Subscription's criteria (`Appointment?status=booked&practitioner=...`) as the REST API's
 * own search: parsed by parseSearch and, to match one written resource, run by the store with
 * `_id` added, in the write's transaction.
 */
import type { AccessPolicy } from '../auth/policy.js';
import { authorize } from '../auth/authorize.js';
import { FhirError } from '../fhir/errors.js';
import { RESOURCE_TYPES } from '../fhir/resource-types.js';
import { parseSearch } from '../search/parse.js';
import { reachedTypes, type SearchQuery } from '../search/query.js';

export interface Criteria {
  type: string;
  params: URLSearchParams;
}

/** Result parameters mean nothing to a match, and _include could read what the grant can't. */
const NOT_CRITERIA = /^_(count|sort|total|summary|elements|include|revinclude|cursor|id)(:|$)/;

const invalid = (why: string) =>
  new FhirError(422, 'invalid', `Subscription.criteria: ${why}`, 'Subscription.criteria');

export function parseCriteria(text: string): Criteria {
  const match = /^([A-Z][A-Za-z]+)(?:\?(.*))?$/.exec(text.trim());
  if (!match) throw invalid('must be a search on a type, such as Appointment?status=booked');
  const type = match[1]!;
  if (!RESOURCE_TYPES.has(type) || type === 'AuditEvent' || type === 'Binary') {
    throw invalid(`${type} is not a type that can be subscribed to`);
  }
  const params = new URLSearchParams(match[2] ?? '');
  for (const name of params.keys()) {
    if (NOT_CRITERIA.test(name)) throw invalid(`${name} can't be part of criteria`);
  }
  return { type, params };
}

/**
 * The criteria as a strict search (unknown parameters refused), checked against the owner's
 * grant: the owner must be able to search the type and every type the criteria reach.
 */
export function criteriaSearch(
  criteria: Criteria,
  baseUrl: string,
  policy?: AccessPolicy,
  id?: string,
): SearchQuery {
  const params = new URLSearchParams(criteria.params);
  if (id !== undefined) params.set('_id', id);
  let query: SearchQuery;
  try {
    query = parseSearch(criteria.type, params, { baseUrl, strict: true });
  } catch (error) {
    if (error instanceof FhirError && policy) throw invalid(error.message);
    throw error;
  }
  if (policy) {
    authorize(policy, criteria.type, 'search');
    for (const condition of query.conditions) {
      for (const type of reachedTypes(condition)) authorize(policy, type, 'search');
    }
  }
  return { ...query, count: 1, total: 'none', include: [], revinclude: [] };
}
