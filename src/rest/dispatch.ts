import { FhirError } from '../fhir/errors.js';
import { history } from './interactions/history.js';
import { readResource, vreadResource } from './interactions/read.js';
import type { Exchange, InteractionResult } from '../exchange/exchange.js';
import { searchType } from './interactions/search.js';
import {
  conditionalDelete,
  conditionalUpdate,
  createResource,
  deleteResource,
  updateResource,
} from './interactions/write.js';

/** One request as a Bundle entry carries it (Bundle.entry.request + resource). */
export interface EntryRequest {
  method: string;
  /** Relative to the base (`Patient/1`, `Patient?identifier=x`), or absolute on our base. */
  url: string;
  body?: unknown;
  ifMatch?: string;
  ifNoneExist?: string;
  ifNoneMatch?: string;
}

export interface ParsedUrl {
  segments: string[];
  params: URLSearchParams;
}

/** Splits an entry URL into path segments and parameters; absolute URLs must be on our base. */
export function parseEntryUrl(url: string, baseUrl: string): ParsedUrl {
  let relative = url;
  if (/^[a-z][a-z0-9+.-]*:/i.test(url)) {
    if (!url.startsWith(`${baseUrl}/`)) {
      throw new FhirError(400, 'not-supported', `Entry URL ${url} is not on this server`);
    }
    relative = url.slice(baseUrl.length + 1);
  }
  const at = relative.indexOf('?');
  const path = at < 0 ? relative : relative.slice(0, at);
  const segments = path.split('/').filter((segment) => segment !== '');
  let decoded: string[];
  try {
    decoded = segments.map(decodeURIComponent);
  } catch {
    throw new FhirError(400, 'invalid', `Entry URL ${url} is not a valid URL`);
  }
  return { segments: decoded, params: new URLSearchParams(at < 0 ? '' : relative.slice(at + 1)) };
}

/**
 * Runs one entry request through the same interaction functions the HTTP routes use, so a
 * Bundle entry is checked exactly like the equivalent direct request.
 */
export async function dispatch(ex: Exchange, request: EntryRequest): Promise<InteractionResult> {
  const { segments, params } = parseEntryUrl(request.url, ex.baseUrl);
  const [type, id, op, vid, ...rest] = segments;
  const method = request.method.toUpperCase();
  const unsupported = () =>
    new FhirError(405, 'not-supported', `${method} ${request.url} is not supported in a Bundle`);
  if (rest.length > 0 || !type) throw unsupported();

  if (method === 'GET') {
    if (type === '_history' && !id) return history(ex, {}, params);
    if (id === '_history' && !op) return history(ex, { type }, params);
    if (id && op === '_history') {
      return vid ? vreadResource(ex, type, id, vid) : history(ex, { type, id }, params);
    }
    if (id && !op) return readResource(ex, type, id, request.ifNoneMatch);
    if (!id && type !== '_history') return searchType(ex, type, params);
    throw unsupported();
  }
  if (method === 'POST' && id === '_search' && !op) return searchType(ex, type, params);
  if (method === 'PUT' && !id) return conditionalUpdate(ex, type, params, request.body);
  if (method === 'DELETE' && !id) return conditionalDelete(ex, type, params);
  if (method === 'POST' && !id) return createResource(ex, type, request.body, request.ifNoneExist);
  if (method === 'PUT' && id && !op) {
    return updateResource(ex, type, id, request.body, request.ifMatch);
  }
  if (method === 'DELETE' && id && !op) return deleteResource(ex, type, id);
  throw unsupported();
}
