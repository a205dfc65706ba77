/**
 * SMART on FHIR resource scopes, v1 (`patient/Observation.read`) and v2
 * (`patient/Observation.rs?category=laboratory`), parsed into the interactions they allow.
 * Parsing never throws: a token's scope string comes from the authorization server, and one
 * scope we can't read should cost the client that scope, not the whole request.
 */
import { RESULT_PARAMETERS } from '../fhir/params.js';

export type Interaction = 'c' | 'r' | 'u' | 'd' | 's';
export type ScopeContext = 'patient' | 'user' | 'system';

export interface ResourceScope {
  context: ScopeContext;
  /** A resource type name, or '*' for every type. */
  type: string;
  interactions: Set<Interaction>;
  /**
   * v2 fine-grained restriction: search parameters a resource must match. Repeated
   * parameters AND, as in a search. Only v2 permissions may carry one.
   */
  filter?: URLSearchParams;
  raw: string;
}

export interface ParsedScopes {
  resources: ResourceScope[];
  /** Scopes that aren't about resources (openid, fhirUser, launch/patient, ...), kept for audit. */
  other: string[];
  /** Resource scopes we couldn't read: they grant nothing, and are listed so we can say why. */
  ignored: string[];
}

const ALL_INTERACTIONS: readonly Interaction[] = ['c', 'r', 'u', 'd', 's'];

/** SMART v1 permissions; v2 says read ≡ rs, write ≡ cud, * ≡ cruds. */
const V1_PERMISSIONS: Readonly<Record<string, readonly Interaction[]>> = {
  read: ['r', 's'],
  write: ['c', 'u', 'd'],
  '*': ALL_INTERACTIONS,
};

/**
 * SMART v2 lets a server ignore permissions out of c-r-u-d-s order or repeated, so `sr` and
 * `rr` are ignored rather than guessed at: a scope we would have to reinterpret is one the
 * client may not have been granted as it thinks.
 */
const V2_PERMISSIONS = /^c?r?u?d?s?$/;

const CONTEXT_PREFIX = /^(?:patient|user|system)\//;
const RESOURCE_SCOPE = /^(patient|user|system)\/([^.?]*)\.([^?]*)(?:\?(.*))?$/s;
const RESOURCE_TYPE = /^(?:\*|[A-Z][A-Za-z]{0,63})$/;

/** A search parameter name, with modifiers (`code:not`), chains and `_has:` allowed. */
const FILTER_NAME = /^[A-Za-z_][A-Za-z0-9_\-.:]*$/;

/** Splits a space-separated `scope` claim; an absent or empty claim grants nothing. */
export function parseScopes(scope: string | undefined): ParsedScopes {
  const parsed: ParsedScopes = { resources: [], other: [], ignored: [] };
  for (const raw of (scope ?? '').split(/\s+/)) {
    if (raw === '') continue;
    if (!CONTEXT_PREFIX.test(raw)) {
      if (!parsed.other.includes(raw)) parsed.other.push(raw);
      continue;
    }
    const resource = parseResourceScope(raw);
    if (resource) parsed.resources.push(resource);
    else if (!parsed.ignored.includes(raw)) parsed.ignored.push(raw);
  }
  return parsed;
}

function parseResourceScope(raw: string): ResourceScope | undefined {
  const match = RESOURCE_SCOPE.exec(raw);
  if (!match) return undefined;
  const [, context, type, permission, query] = match as unknown as [
    string,
    ScopeContext,
    string,
    string,
    string | undefined,
  ];
  if (!RESOURCE_TYPE.test(type)) return undefined;

  const v1 = Object.hasOwn(V1_PERMISSIONS, permission) ? V1_PERMISSIONS[permission] : undefined;
  if (v1) {
    // v1 has no fine-grained form; a v1 scope with a query is a mix we won't interpret.
    if (query !== undefined) return undefined;
    return { context, type, interactions: new Set(v1), raw };
  }
  if (permission === '' || !V2_PERMISSIONS.test(permission)) return undefined;
  const interactions = new Set(permission.split('') as Interaction[]);
  if (query === undefined) return { context, type, interactions, raw };
  const filter = parseFilter(query);
  return filter ? { context, type, interactions, filter, raw } : undefined;
}

/** `category=laboratory&code=http://loinc.org|1234-5`; every pair needs a name and a value. */
function parseFilter(query: string): URLSearchParams | undefined {
  if (query === '') return undefined;
  for (const pair of query.split('&')) {
    if (!pair.includes('=')) return undefined;
  }
  const filter = new URLSearchParams(query);
  for (const [name, value] of filter) {
    if (!FILTER_NAME.test(name) || RESULT_PARAMETERS.has(name) || value === '') return undefined;
  }
  return filter;
}
