import { ID_PATTERN } from '../fhir/resource-types.js';

export interface ParsedReference {
  targetType: string | null;
  targetId: string | null;
}

const TYPE_PATTERN = /^[A-Z][A-Za-z]+$/;

/**
 * The target of a literal reference, as far as the string alone tells: `Patient/123` and
 * `Patient/123/_history/2` are Patient 123; an absolute URL under `baseUrl` is read as
 * relative; another absolute URL gives its trailing `Type/id` if it has one. `urn:uuid:`/
 * `urn:oid:` and anything unrecognisable give nulls. Undefined for `#contained` references,
 * which point inside the resource and have nothing to index.
 */
export function parseReference(reference: string, baseUrl?: string): ParsedReference | undefined {
  if (reference.startsWith('#')) return undefined;
  const none = { targetType: null, targetId: null };
  let path = reference;
  const base = baseUrl?.replace(/\/+$/, '');
  if (base && reference.startsWith(`${base}/`)) path = reference.slice(base.length + 1);
  else if (/^[A-Za-z][A-Za-z0-9+.-]*:/.test(reference)) {
    // Absolute: only http(s) URLs have a RESTful path to read a type from.
    if (!/^https?:\/\//i.test(reference)) return none;
    path = reference.replace(/^https?:\/\/[^/]*\/?/i, '').replace(/[?#].*$/, '');
    return fromSegments(path.split('/'), true) ?? none;
  }
  return fromSegments(path.split('/'), false) ?? none;
}

/**
 * `Type/id` or `Type/id/_history/vid`. For an absolute URL the service base may have any
 * number of leading segments, so only the tail is matched.
 */
function fromSegments(segments: string[], tailOnly: boolean): ParsedReference | undefined {
  let tail = segments;
  if (tail.length >= 4 && tail[tail.length - 2] === '_history') tail = tail.slice(0, -2);
  if (!tailOnly && tail.length !== 2) return undefined;
  if (tail.length < 2) return undefined;
  const type = tail[tail.length - 2] ?? '';
  const id = tail[tail.length - 1] ?? '';
  if (!TYPE_PATTERN.test(type) || !ID_PATTERN.test(id)) return undefined;
  return { targetType: type, targetId: id };
}
