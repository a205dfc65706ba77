/**
 * Placeholders in transaction Bundles: entries name resources that don't exist yet by
 * `urn:uuid:`/`urn:oid:` fullUrls, and other entries refer to them by those urns. The server
 * turns each into `Type/id` before anything is written, so no urn is ever stored.
 */

const PLACEHOLDER = /^urn:(?:uuid|oid):/i;

export const isPlaceholder = (value: string) => PLACEHOLDER.test(value);

/** Placeholder → `Type/id`; throws (FhirError) when the placeholder can't be resolved. */
export type Resolve = (placeholder: string) => string;

/**
 * A copy of `value` with every `reference` that is a placeholder resolved. Any object key
 * `reference` counts, so references nested in backbone elements, extensions and contained
 * resources are all found without a table of where each type keeps its references.
 */
export function resolveReferences(value: unknown, resolve: Resolve): unknown {
  if (Array.isArray(value)) return value.map((item) => resolveReferences(item, resolve));
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, item]) => [
      key,
      key === 'reference' && typeof item === 'string' && isPlaceholder(item)
        ? resolve(item)
        : resolveReferences(item, resolve),
    ]),
  );
}

function resolveParams(query: string, resolve: Resolve): string | undefined {
  const params = new URLSearchParams(query);
  if (![...params.values()].some(isPlaceholder)) return undefined;
  const resolved = new URLSearchParams();
  for (const [name, value] of params) {
    resolved.append(name, isPlaceholder(value) ? resolve(value) : value);
  }
  return resolved.toString();
}

/** An entry URL with placeholder parameter values (`Observation?subject=urn:uuid:...`) resolved. */
export function resolveUrl(url: string, resolve: Resolve): string {
  const at = url.indexOf('?');
  if (at < 0) return url;
  const resolved = resolveParams(url.slice(at + 1), resolve);
  return resolved === undefined ? url : `${url.slice(0, at)}?${resolved}`;
}

/** If-None-Exist criteria (`identifier=x`, or `Type?identifier=x`) with placeholders resolved. */
export function resolveCriteria(criteria: string, resolve: Resolve): string {
  return criteria.includes('?')
    ? resolveUrl(criteria, resolve)
    : (resolveParams(criteria, resolve) ?? criteria);
}
