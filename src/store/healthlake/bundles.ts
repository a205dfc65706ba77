/**
 * HealthLake's Bundles as the store interface's results. Its links are absolute URLs on its own
 * host; we keep only the part after the data store's base (checked to be on it), which the REST
 * layer seals (AES-GCM) into our own `_cursor` links on FHIR_BASE_URL. Nothing of HealthLake's
 * host reaches a client.
 */
import type { Bundle, BundleEntry, Resource } from 'fhir/r4.js';
import { FhirError } from '../../fhir/errors.js';
import type { PagePosition, SearchQuery } from '../../search/query.js';
import { searchParamsFor } from '../../search/registry.js';
import type { HistoryPage, StoredVersion, WriteMethod } from '../store.js';

/** The part of an upstream link after the data store base; 502 when it points elsewhere. */
export function relativeLink(url: string, endpoint: string): string {
  if (!url.startsWith(endpoint)) {
    throw new FhirError(
      502,
      'transient',
      'HealthLake returned a paging link outside its data store',
    );
  }
  return url.slice(endpoint.length);
}

/** Splits a relative link into the path and its (decoded) query pairs. */
export function splitLink(link: string): { path: string; query: [string, string][] } {
  const at = link.indexOf('?');
  const path = at < 0 ? link : link.slice(0, at);
  const query = at < 0 ? [] : [...new URLSearchParams(link.slice(at + 1))];
  if (!/^[A-Za-z]*(\/[A-Za-z0-9._-]+)*$/.test(path) || /(^|\/)\.+(\/|$)/.test(path)) {
    throw new FhirError(400, 'invalid', 'The paging cursor is invalid or has been altered');
  }
  return { path, query };
}

export function asBundle(body: unknown, what: string): Bundle {
  if (
    typeof body !== 'object' ||
    body === null ||
    (body as { resourceType?: unknown }).resourceType !== 'Bundle'
  ) {
    throw new FhirError(
      502,
      'transient',
      `HealthLake answered ${what} with something other than a Bundle`,
    );
  }
  return body as Bundle;
}

export function linkOf(bundle: Bundle, relation: string, endpoint: string): string | undefined {
  const url = bundle.link?.find((l) => l.relation === relation)?.url;
  return url === undefined ? undefined : relativeLink(url, endpoint);
}

/** An upstream link as the position our cursor carries (sealed by the REST layer). */
export function positionOf(link: string | undefined, direction: PagePosition['direction']) {
  return link === undefined ? undefined : { keys: [link], id: '', direction };
}

/**
 * The query as HealthLake parameters: what the client asked (as understood) plus `_count`.
 * References written as absolute URLs on our base are made relative: HealthLake stores them as
 * clients wrote them, which for our own resources is `Type/id`.
 */
export function searchParams(query: SearchQuery, baseUrl: string): [string, string][] {
  const defs = searchParamsFor(query.type);
  const ours = `${baseUrl}/`;
  const params = query.applied.map(([name, value]): [string, string] => {
    const def = defs.get(name.split(/[:.]/)[0]!);
    if (def?.type !== 'reference' || !value.includes(ours)) return [name, value];
    const parts = value.split(',').map((v) => (v.startsWith(ours) ? v.slice(ours.length) : v));
    return [name, parts.join(',')];
  });
  if (!params.some(([name]) => name === '_count')) params.push(['_count', String(query.count)]);
  return params;
}

export function entriesByMode(bundle: Bundle): { matches: Resource[]; included: Resource[] } {
  const matches: Resource[] = [];
  const included: Resource[] = [];
  for (const entry of bundle.entry ?? []) {
    if (!entry.resource || entry.resource.resourceType === 'OperationOutcome') continue;
    (entry.search?.mode === 'include' ? included : matches).push(entry.resource);
  }
  return { matches, included };
}

const METHODS = new Set<WriteMethod>(['POST', 'PUT', 'DELETE']);

function versionOf(entry: BundleEntry): StoredVersion | undefined {
  const resource = entry.resource as Resource | undefined;
  const url = entry.fullUrl ?? entry.request?.url ?? '';
  const parts = url.split('/_history/')[0]!.split('/');
  const resourceType = resource?.resourceType ?? parts[parts.length - 2];
  const id = resource?.id ?? parts[parts.length - 1];
  const etag = /(\d+)/.exec(entry.response?.etag ?? '')?.[1];
  const versionId = resource?.meta?.versionId ?? etag;
  const method = (entry.request?.method ?? 'PUT') as WriteMethod;
  const lastUpdated = resource?.meta?.lastUpdated ?? entry.response?.lastModified;
  if (!resourceType || !id || !versionId || !lastUpdated || !METHODS.has(method)) return undefined;
  return {
    resourceType,
    id,
    versionId,
    lastUpdated,
    method,
    resource: method === 'DELETE' ? undefined : resource,
  };
}

export function historyPage(bundle: Bundle, endpoint: string): HistoryPage {
  const versions = (bundle.entry ?? []).flatMap((entry) => versionOf(entry) ?? []);
  const next = linkOf(bundle, 'next', endpoint);
  return {
    versions,
    total: bundle.total ?? versions.length,
    next: next === undefined ? undefined : { seq: next },
  };
}
