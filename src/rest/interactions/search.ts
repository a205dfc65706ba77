import type { Bundle, BundleEntry, BundleLink, FhirResource, Resource } from 'fhir/r4.js';
import { authorize } from '../../auth/authorize.js';
import type { AccessPolicy } from '../../auth/policy.js';
import { openCursor, sealCursor } from '../../fhir/cursor.js';
import { FhirError } from '../../fhir/errors.js';
import { single } from '../../fhir/params.js';
import { subset } from '../../fhir/subset.js';
import { RESOURCE_TYPES } from '../../fhir/resource-types.js';
import { parseSearch } from '../../search/parse.js';
import { searchParamsFor } from '../../search/registry.js';
import { reachedTypes, type PagePosition, type SearchQuery } from '../../search/query.js';
import { requireInteraction } from '../../exchange/guards.js';
import { audited } from '../../exchange/audited.js';
import { callerDigest } from '../../exchange/cursor-scope.js';
import type { Exchange, InteractionResult } from '../../exchange/exchange.js';

interface Cursor extends PagePosition {
  scope: string;
}

/**
 * A query's identity for its cursors: a cursor opens only the query it was made for, by the
 * caller it was made for (the same token facts: who, which client, roles, scopes, launch
 * context, break-glass). A store that replays its upstream's own next link (HealthLake) would
 * otherwise serve one caller's constrained page to another.
 */
function scopeOf(query: SearchQuery, policy: AccessPolicy): string {
  return JSON.stringify([query.type, query.applied, callerDigest(policy)]);
}

function pageLink(ex: Exchange, query: SearchQuery, cursor?: string): string {
  const params = new URLSearchParams(query.applied);
  if (cursor) params.set('_cursor', cursor);
  const search = params.toString();
  return `${ex.baseUrl}/${query.type}${search ? `?${search}` : ''}`;
}

function entry(
  ex: Exchange,
  query: SearchQuery,
  resource: Resource,
  mode: 'match' | 'include',
): BundleEntry {
  return {
    fullUrl: `${ex.baseUrl}/${resource.resourceType}/${resource.id}`,
    resource: subset(resource, query.summary, query.elements) as FhirResource,
    search: { mode },
  };
}

/**
 * The types an _include/_revinclude names, so each is authorized before the search runs: asking
 * for what the token may not read is 403. Each entry is a set of alternatives: a parameter named
 * without a target type (`Encounter:subject`, Patient or Group) needs one of its served targets
 * readable, and reaches only those (the store holds every included resource to its own type's
 * read grant and leaves out types the token can't read), so a token for Patients alone can still
 * include subjects once Group is served. Wildcards (`*`) name no type at all.
 */
function includedTypes(query: SearchQuery): string[][] {
  const wanted: string[][] = [];
  for (const spec of query.include) {
    if (spec.sourceType === '*') continue;
    if (spec.targetType) wanted.push([spec.targetType]);
    else if (spec.code !== '*') {
      const param = searchParamsFor(spec.sourceType).get(spec.code);
      const targets = param?.type === 'reference' ? param.targets : [];
      const served = targets.filter((target) => RESOURCE_TYPES.has(target));
      if (served.length) wanted.push(served);
    }
    if (spec.iterate && spec.sourceType !== '*') wanted.push([spec.sourceType]);
  }
  for (const spec of query.revinclude) wanted.push([spec.sourceType]);
  return wanted;
}

/**
 * Every type a query's conditions reach into (a chain's targets, a `_has` source) needs a
 * search grant of its own: a chain or `_has` into a type the token can't search at all is 403,
 * like searching that type directly. Into a type it may search in part, the store matches only
 * that part (its guard), so nothing about the rest can be learnt from which resources match.
 */
export function authorizeReach(policy: AccessPolicy, query: SearchQuery): void {
  for (const condition of query.conditions) {
    const types = reachedTypes(condition);
    if (!types.length) continue;
    if (!types.some((type) => policy.grant(type, 'search'))) {
      authorize(policy, types[0]!, 'search'); // throws the 403 naming the first target
    }
    // Binary is reached only as a Binary read is, which a query can't express: like searching
    // Binary itself, reaching into it needs access to every Binary.
    if (types.includes('Binary')) {
      const grant = authorize(policy, 'Binary', 'search');
      if (grant.filters.length || !grant.compartments.some((c) => c.kind === 'all')) {
        throw new FhirError(
          403,
          'forbidden',
          'A chain or _has into Binary needs access to every Binary',
          undefined,
          { 'www-authenticate': 'Bearer realm="telefhir", error="insufficient_scope"' },
        );
      }
    }
  }
}

/** Type-level search: GET [type]?..., POST [type]/_search, and search entries in bundles. */
export function searchType(
  ex: Exchange,
  type: string,
  params: URLSearchParams,
): Promise<InteractionResult> {
  return audited(ex, { interaction: 'search', type, query: params }, (ex) =>
    search(ex, type, params),
  );
}

async function search(
  ex: Exchange,
  type: string,
  params: URLSearchParams,
): Promise<InteractionResult> {
  requireInteraction(type, 'search-type');
  authorize(ex.policy, type, 'search');
  const query = parseSearch(type, ex.searchParams?.(params) ?? params, {
    baseUrl: ex.baseUrl,
    strict: ex.strict,
  });
  authorizeReach(ex.policy, query);
  for (const alternatives of includedTypes(query)) {
    if (!alternatives.some((type) => ex.policy.grant(type, 'read'))) {
      authorize(ex.policy, alternatives[0]!, 'read'); // throws the 403 naming the first
    }
  }
  const key = await ex.store.sharedSecret('paging');
  const token = single(params, '_cursor');
  let position: PagePosition | undefined;
  if (token !== undefined) {
    const { scope, ...rest } = openCursor(key, token) as Cursor;
    if (scope !== scopeOf(query, ex.policy))
      throw new FhirError(400, 'invalid', 'The paging cursor belongs to another query');
    position = rest;
  }
  const result = await ex.store.search(query, ex.ctx, position);
  const seal = (at: PagePosition) =>
    sealCursor(key, { ...at, scope: scopeOf(query, ex.policy) } satisfies Cursor);
  const links: BundleLink[] = [{ relation: 'self', url: pageLink(ex, query, token) }];
  if (result.next) links.push({ relation: 'next', url: pageLink(ex, query, seal(result.next)) });
  if (result.previous)
    links.push({ relation: 'previous', url: pageLink(ex, query, seal(result.previous)) });
  const bundle: Bundle = {
    resourceType: 'Bundle',
    type: 'searchset',
    ...(result.total === undefined ? {} : { total: result.total }),
    link: links,
    entry: [
      ...result.matches.map((resource) => entry(ex, query, resource, 'match')),
      ...result.included.map((resource) => entry(ex, query, resource, 'include')),
    ],
  };
  return { status: 200, resource: bundle };
}

/** Conditional criteria (If-None-Exist, conditional update/delete) as a strict search. */
export function criteriaQuery(ex: Exchange, type: string, params: URLSearchParams): SearchQuery {
  const query = parseSearch(type, ex.searchParams?.(params) ?? params, {
    baseUrl: ex.baseUrl,
    strict: true,
  });
  if (!query.conditions.length) {
    throw new FhirError(
      400,
      'invalid',
      'Conditional criteria must contain at least one search parameter',
    );
  }
  authorizeReach(ex.policy, query);
  return query;
}
