/**
 * History upstream. HealthLake's own `_history` for unrestricted callers; for a caller held to
 * a compartment or filter, type history is built here. HealthLake's `_history` takes no
 * search parameters, so we find the resources the caller may see (a search carrying the
 * constraints, as every search does) and merge their instance histories, newest first. That is
 * the Postgres store's rule (a resource's versions are listed when the resource as it is now is
 * inside the grant) at the cost of one request per resource, so it is bounded: beyond
 * MAX_RESOURCES the caller is told to search instead.
 */
import { FhirError } from '../../fhir/errors.js';
import { RESOURCE_TYPES } from '../../fhir/resource-types.js';
import type { HistoryPage, HistoryQuery, RequestContext, StoredVersion } from '../store.js';
import type { UpstreamScope } from './access.js';
import { historyPage } from './bundles.js';
import type { Upstream } from './upstream.js';

const MAX_RESOURCES = 200;
/** Cursors of this kind carry an offset into the merged list, not an upstream link. */
export const MERGED = 'merged:';

export async function restrictedTypeHistory(
  upstream: Upstream,
  type: string,
  scope: Exclude<UpstreamScope, { kind: 'everything' }>,
  query: HistoryQuery,
): Promise<HistoryPage> {
  if (scope.kind === 'nothing') return { versions: [], total: 0, next: undefined };
  const visible = await upstream.list(type, [...scope.params, ['_elements', 'id']]);
  if (visible.length > MAX_RESOURCES) {
    throw new FhirError(
      403,
      'too-costly',
      `History of more than ${MAX_RESOURCES} ${type} resources under this token's compartment is not available on the HealthLake store; search instead`,
    );
  }
  const versions: StoredVersion[] = [];
  for (const resource of visible) {
    const params: [string, string][] = [['_count', '1000']];
    if (query.since) params.push(['_since', query.since]);
    const bundle = await upstream.search(`${type}/${resource.id}/_history`, params);
    versions.push(...historyPage(bundle, upstream.client.endpoint).versions);
  }
  versions.sort(
    (a, b) =>
      b.lastUpdated.localeCompare(a.lastUpdated) ||
      a.id.localeCompare(b.id) ||
      Number(b.versionId) - Number(a.versionId),
  );
  const offset = query.after ? Number(query.after.seq.slice(MERGED.length)) : 0;
  if (!Number.isSafeInteger(offset) || offset < 0) {
    throw new FhirError(400, 'invalid', 'The paging cursor is invalid or has been altered');
  }
  const end = offset + query.count;
  return {
    versions: versions.slice(offset, end),
    total: versions.length,
    next: end < versions.length ? { seq: `${MERGED}${end}` } : undefined,
  };
}

/** System history can't be constrained upstream: only for callers that may read everything. */
export function requireOpenSystemHistory(ctx: RequestContext, localTypes: ReadonlySet<string>) {
  if (ctx.access === 'unrestricted') return;
  const access = ctx.access;
  const open = [...RESOURCE_TYPES.keys()].every((t) => {
    if (localTypes.has(t)) return true;
    const grant = access.grant(t, 'search');
    return (
      grant !== undefined &&
      grant.compartments.some((c) => c.kind === 'all') &&
      grant.filters.length === 0
    );
  });
  if (!open) {
    throw new FhirError(
      403,
      'forbidden',
      'System history on the HealthLake store is limited to callers that may read everything; use type history or search',
    );
  }
}

/** HealthLake's own history of the system, a type or a resource, as one page. */
export async function upstreamHistory(upstream: Upstream, query: HistoryQuery) {
  const path = [query.type, query.id, '_history'].filter(Boolean).join('/');
  const params: [string, string][] = [['_count', String(query.count)]];
  if (query.since) params.push(['_since', query.since]);
  const bundle = query.after
    ? await upstream.follow(query.after.seq)
    : await upstream.search(path, params);
  if (bundle.type !== 'history') {
    throw new FhirError(502, 'transient', 'HealthLake answered a history with another Bundle');
  }
  return historyPage(bundle, upstream.client.endpoint);
}
