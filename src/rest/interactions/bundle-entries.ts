import { STATUS_CODES } from 'node:http';
import type { BundleEntry, BundleEntryResponse, FhirResource } from 'fhir/r4.js';
import { FhirError } from '../../fhir/errors.js';
import { informational, operationOutcome } from '../../fhir/outcome.js';
import type { ReturnPreference } from '../../fhir/prefer.js';
import { dispatch, type EntryRequest } from '../dispatch.js';
import type { Exchange, InteractionResult } from '../../exchange/exchange.js';

/** Bundle.entry.request.method: R4's HTTPVerb. */
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH']);

/** One Bundle entry, checked: where it sits in the Bundle and the request it carries. */
export interface PlannedEntry {
  index: number;
  fullUrl: string | undefined;
  request: EntryRequest;
}

export const entryPath = (index: number) => `Bundle.entry[${index}]`;

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function optionalString(
  holder: Record<string, unknown>,
  name: string,
  path: string,
): string | undefined {
  const value = holder[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') {
    throw new FhirError(400, 'structure', `${path}.${name} must be a string`, `${path}.${name}`);
  }
  return value;
}

/** Reads one Bundle.entry; a malformed one is a 400 that names it. */
export function planEntry(raw: unknown, index: number): PlannedEntry {
  const at = entryPath(index);
  if (!isObject(raw)) throw new FhirError(400, 'structure', `${at} must be an object`, at);
  const request = raw.request;
  const requestPath = `${at}.request`;
  if (!isObject(request)) {
    throw new FhirError(
      400,
      'required',
      `${requestPath} is required (method and url)`,
      requestPath,
    );
  }
  const method = request.method;
  if (typeof method !== 'string' || !METHODS.has(method.toUpperCase())) {
    throw new FhirError(
      400,
      'required',
      `${requestPath}.method must be one of ${[...METHODS].join(', ')}`,
      `${requestPath}.method`,
    );
  }
  const url = request.url;
  if (typeof url !== 'string' || url.trim() === '') {
    throw new FhirError(400, 'required', `${requestPath}.url is required`, `${requestPath}.url`);
  }
  return {
    index,
    fullUrl: optionalString(raw, 'fullUrl', at),
    request: {
      method: method.toUpperCase(),
      url: url.trim(),
      body: raw.resource,
      ifMatch: optionalString(request, 'ifMatch', requestPath),
      ifNoneExist: optionalString(request, 'ifNoneExist', requestPath),
      ifNoneMatch: optionalString(request, 'ifNoneMatch', requestPath),
    },
  };
}

/** HEAD is GET without the body; everything else goes through dispatch unchanged. */
export async function runEntry(ex: Exchange, request: EntryRequest): Promise<InteractionResult> {
  if (request.method !== 'HEAD') return dispatch(ex, request);
  const result = await dispatch(ex, { ...request, method: 'GET' });
  return { ...result, resource: undefined };
}

export const statusLine = (status: number) => `${status} ${STATUS_CODES[status] ?? ''}`.trim();

/** As over HTTP, `Prefer: return=` shapes only what writes send back; reads always carry theirs. */
function isWrite(request: EntryRequest): boolean {
  if (!['POST', 'PUT', 'PATCH'].includes(request.method)) return false;
  const path = request.url.split('?')[0]!;
  return !path.endsWith('/_search');
}

export function responseEntry(
  ex: Exchange,
  request: EntryRequest,
  result: InteractionResult,
  prefer: ReturnPreference,
): BundleEntry {
  const response: BundleEntryResponse = { status: statusLine(result.status) };
  if (result.location) response.location = result.location;
  if (result.etag) response.etag = result.etag;
  if (result.lastModified) response.lastModified = result.lastModified;
  const preference = isWrite(request) ? prefer : 'representation';
  const { resource } = result;
  if (!resource || preference === 'minimal') return { response };
  if (preference === 'OperationOutcome') {
    return { response: { ...response, outcome: informational(result.summary ?? 'Done') } };
  }
  // A searchset or history Bundle has no id of its own, so no fullUrl to give it.
  const fullUrl =
    resource.id && resource.resourceType !== 'Bundle'
      ? `${ex.baseUrl}/${resource.resourceType}/${resource.id}`
      : undefined;
  return { ...(fullUrl ? { fullUrl } : {}), resource: resource as FhirResource, response };
}

export function errorEntry(error: FhirError): BundleEntry {
  return {
    response: {
      status: statusLine(error.statusCode),
      outcome: operationOutcome(error.issues),
    },
  };
}
