import fhirpath from 'fhirpath';
import r4 from 'fhirpath/fhir-context/r4';
import { dateRange, periodRange, timingRanges } from './dates.js';
import { normaliseString } from './normalise.js';
import { simplePathEvaluator } from './simple-paths.js';
import { parseReference } from './references.js';
import { searchParamsFor, type SearchParamDef } from './registry.js';

export { normaliseString } from './normalise.js';

export interface StringRow {
  code: string;
  /** Normalised: lowercase, accents stripped, whitespace collapsed (see normaliseString). */
  value: string;
  /** As written, for `:exact`. */
  exact: string;
}
export interface TokenRow {
  code: string;
  system: string | null;
  value: string | null;
  /** Normalised display/text, for :text. */
  text: string | null;
}
/**
 * ISO-8601 UTC instants (ms), an inclusive range covering the value's precision; a Period's
 * open ends are '-infinity'/'infinity'. A dateTime without timezone is taken as UTC.
 */
export interface DateRow {
  code: string;
  start: string;
  end: string;
}
export interface ReferenceRow {
  code: string;
  targetType: string | null;
  targetId: string | null;
  /** The reference string as written. */
  url: string;
}
/** For quantity and number params. */
export interface NumberRow {
  code: string;
  value: number;
  system: string | null;
  unit: string | null;
}
export interface UriRow {
  code: string;
  value: string;
}
export interface IndexValues {
  strings: StringRow[];
  tokens: TokenRow[];
  dates: DateRow[];
  references: ReferenceRow[];
  numbers: NumberRow[];
  uris: UriRow[];
}

/** A value from FHIRPath with its FHIR datatype, when the model knows it. */
interface Value {
  type: string | null;
  data: unknown;
}

type Evaluator = (resource: unknown) => unknown[];

const QUANTITY_TYPES = new Set([
  'Quantity',
  'Age',
  'Count',
  'Distance',
  'Duration',
  'MoneyQuantity',
  'SimpleQuantity',
]);

/**
 * `resolve()` would fetch the target, which can't happen while a resource is being written
 * (it may even be in the same transaction). What the R4 expressions ask of it is only ever
 * `resolve() is Type`, so that is answered from the reference string instead, with the same
 * parser that fills ReferenceRow.targetType.
 */
const RESOLVE_IS = /resolve\(\)\s+is\s+(?:FHIR\.)?([A-Za-z]+)/g;

const OPTIONS = {
  // Keeps each result's FHIR datatype, which tells e.g. an Identifier from a ContactPoint.
  resolveInternalTypes: false,
  userInvocationTable: {
    refTypeIs: {
      fn: (inputs: unknown[], type: string): boolean[] =>
        inputs.map((input) => {
          const reference = str(field(input, 'reference')) ?? str(input);
          return reference !== undefined && parseReference(reference)?.targetType === type;
        }),
      arity: { 1: ['String' as const] },
    },
  },
};

/** The expression as compiled for indexing: `resolve() is X` becomes `refTypeIs('X')`. */
export function writeTimeExpression(expression: string): string {
  return expression.replace(RESOLVE_IS, "refTypeIs('$1')");
}

/**
 * Compiled once per expression, which is per (type, code) for the registry's definitions;
 * null if it can't be evaluated at write time.
 */
const evaluators = new Map<string, Evaluator | null>();

function evaluator(def: SearchParamDef): Evaluator | null {
  let compiled = evaluators.get(def.expression);
  if (compiled === undefined) {
    const expression = writeTimeExpression(def.expression);
    try {
      compiled = /\bresolve\s*\(/.test(expression)
        ? null
        : (simplePathEvaluator(expression) ??
          (fhirpath.compile(expression, r4, OPTIONS) as Evaluator));
    } catch {
      compiled = null;
    }
    evaluators.set(def.expression, compiled);
  }
  return compiled;
}

/**
 * The search index rows of a resource, one set per kind of index table. Values that don't
 * fit their parameter (a malformed date, a Quantity without a number) are skipped: this runs
 * on every write and must never be the reason one fails.
 */
export function extractIndexValues(
  resource: { resourceType: string } & Record<string, unknown>,
  baseUrl?: string,
): IndexValues {
  return extractIndexValuesFor(resource, searchParamsFor(resource.resourceType).values(), baseUrl);
}

/** No values: what a deleted resource is indexed as. */
export function emptyIndexValues(): IndexValues {
  return { strings: [], tokens: [], dates: [], references: [], numbers: [], uris: [] };
}

/** The same for a given set of definitions, e.g. ones not (yet) in the registry. */
export function extractIndexValuesFor(
  resource: { resourceType: string } & Record<string, unknown>,
  defs: Iterable<SearchParamDef>,
  baseUrl?: string,
): IndexValues {
  const out = emptyIndexValues();
  for (const def of defs) {
    if (def.resourceType !== resource.resourceType) continue;
    const evaluate = evaluator(def);
    if (!evaluate) continue;
    let results: unknown[];
    try {
      results = evaluate(resource);
    } catch {
      continue;
    }
    for (const value of results.map(unwrap)) addValue(out, def, value, baseUrl);
  }
  return {
    strings: dedupe(out.strings),
    tokens: dedupe(out.tokens),
    dates: dedupe(out.dates),
    references: dedupe(out.references),
    numbers: dedupe(out.numbers),
    uris: dedupe(out.uris),
  };
}

function addValue(out: IndexValues, def: SearchParamDef, value: Value, baseUrl?: string): void {
  const { code } = def;
  switch (def.type) {
    case 'string':
      for (const exact of stringsOf(value)) {
        out.strings.push({ code, value: normaliseString(exact), exact });
      }
      break;
    case 'token':
      for (const token of tokensOf(value)) out.tokens.push({ code, ...token });
      break;
    case 'date':
      for (const range of datesOf(value)) out.dates.push({ code, ...range });
      break;
    case 'reference': {
      const reference = referenceOf(value, baseUrl);
      if (reference) out.references.push({ code, ...reference });
      break;
    }
    case 'quantity':
    case 'number':
      for (const number of numbersOf(value)) out.numbers.push({ code, ...number });
      break;
    case 'uri':
      if (str(value.data)) out.uris.push({ code, value: value.data as string });
      break;
  }
}

function stringsOf({ type, data }: Value): string[] {
  let parts: unknown[];
  if (typeof data === 'string') parts = [data];
  else if (kind(type, data) === 'HumanName') {
    parts = [
      field(data, 'family'),
      ...list(data, 'given'),
      ...list(data, 'prefix'),
      ...list(data, 'suffix'),
      field(data, 'text'),
    ];
  } else if (kind(type, data) === 'Address') {
    parts = [
      ...list(data, 'line'),
      ...['city', 'district', 'state', 'postalCode', 'country', 'text'].map((k) => field(data, k)),
    ];
  } else return [];
  return parts.flatMap((part) => (typeof part === 'string' && normaliseString(part) ? [part] : []));
}

type Token = Omit<TokenRow, 'code'>;

function tokensOf({ type, data }: Value): Token[] {
  if (typeof data === 'boolean') return [{ system: null, value: String(data), text: null }];
  if (typeof data === 'string') return data ? [{ system: null, value: data, text: null }] : [];
  switch (kind(type, data)) {
    case 'Coding':
      return codingToken(data, undefined);
    case 'CodeableConcept': {
      const ccText = str(field(data, 'text'));
      const rows = list(data, 'coding').flatMap((coding) => codingToken(coding, ccText));
      // :text matches CodeableConcept.text too, so it must stay findable even when every
      // coding carries its own display.
      const normalised = ccText && normaliseString(ccText);
      if (normalised && !rows.some((row) => row.text === normalised)) {
        rows.push({ system: null, value: null, text: normalised });
      }
      return rows;
    }
    case 'Identifier': {
      const value = str(field(data, 'value'));
      const system = str(field(data, 'system'));
      if (!value && !system) return [];
      const text = str(field(field(data, 'type'), 'text'));
      return [
        { system: system ?? null, value: value ?? null, text: text ? normaliseString(text) : null },
      ];
    }
    case 'ContactPoint': {
      // A token on a ContactPoint matches its value; ContactPoint.system (phone, email…) is
      // not a code system.
      const value = str(field(data, 'value'));
      return value ? [{ system: null, value, text: null }] : [];
    }
    default:
      return [];
  }
}

function codingToken(coding: unknown, fallbackText: string | undefined): Token[] {
  const system = str(field(coding, 'system')) ?? null;
  const value = str(field(coding, 'code')) ?? null;
  const display = str(field(coding, 'display')) ?? fallbackText;
  const text = display ? normaliseString(display) || null : null;
  if (!system && !value && !text) return [];
  return [{ system, value, text }];
}

function datesOf({ type, data }: Value): Omit<DateRow, 'code'>[] {
  if (typeof data === 'string') return present([dateRange(data)]);
  switch (kind(type, data)) {
    case 'Period':
      return present([periodRange(field(data, 'start'), field(data, 'end'))]);
    case 'Timing':
      return timingRanges(data);
    default:
      return [];
  }
}

function referenceOf(
  { type, data }: Value,
  baseUrl?: string,
): Omit<ReferenceRow, 'code'> | undefined {
  // A canonical or uri element can be the target of a reference param; the string is all there is.
  const url =
    typeof data === 'string'
      ? data
      : kind(type, data) === 'Reference'
        ? str(field(data, 'reference'))
        : undefined;
  if (!url) return undefined;
  const target = parseReference(url, baseUrl);
  return target && { ...target, url };
}

function numbersOf({ type, data }: Value): Omit<NumberRow, 'code'>[] {
  if (typeof data === 'number') {
    return Number.isFinite(data) ? [{ value: data, system: null, unit: null }] : [];
  }
  switch (kind(type, data)) {
    case 'Quantity':
      return quantity(data);
    case 'Range':
      return [...quantity(field(data, 'low')), ...quantity(field(data, 'high'))];
    default:
      return [];
  }
}

function quantity(data: unknown): Omit<NumberRow, 'code'>[] {
  const value = field(data, 'value');
  if (typeof value !== 'number' || !Number.isFinite(value)) return [];
  const system = str(field(data, 'system')) ?? null;
  const unit = str(field(data, 'code')) ?? str(field(data, 'unit')) ?? null;
  return [{ value, system, unit }];
}

/**
 * The complex datatype of a value, from the model, or from its shape when the model had no
 * type for the path (e.g. inside an extension it doesn't describe). Quantity's profiles
 * (Duration, Age…) all read as Quantity.
 */
function kind(type: string | null, data: unknown): string | undefined {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return undefined;
  const name = type?.replace(/^FHIR\./, '');
  if (name && /^[A-Z]/.test(name)) return QUANTITY_TYPES.has(name) ? 'Quantity' : name;
  const has = (key: string) => field(data, key) !== undefined;
  if (has('coding') || (has('text') && Object.keys(data).length === 1)) return 'CodeableConcept';
  if (has('reference')) return 'Reference';
  if (has('family') || has('given')) return 'HumanName';
  if (has('line') || has('city') || has('postalCode')) return 'Address';
  if (has('start') || has('end')) return 'Period';
  if (has('low') || has('high')) return 'Range';
  if (has('event') || has('repeat')) return 'Timing';
  if (typeof field(data, 'value') === 'number') return 'Quantity';
  if (has('value')) return 'Identifier';
  if (has('code') || has('system')) return 'Coding';
  return undefined;
}

/** FHIRPath results are ResourceNodes (data plus type) or, for computed values, plain values. */
function unwrap(item: unknown): Value {
  if (typeof item === 'object' && item !== null && 'data' in item && 'fhirNodeDataType' in item) {
    const type = item.fhirNodeDataType;
    return { type: typeof type === 'string' ? type : null, data: item.data };
  }
  return { type: null, data: item };
}

function field(data: unknown, key: string): unknown {
  return typeof data === 'object' && data !== null && !Array.isArray(data)
    ? (data as Record<string, unknown>)[key]
    : undefined;
}

function list(data: unknown, key: string): unknown[] {
  const value = field(data, key);
  return Array.isArray(value) ? value : [];
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

function present<T>(values: (T | undefined)[]): T[] {
  return values.filter((value): value is T => value !== undefined);
}

function dedupe<T extends object>(rows: T[]): T[] {
  if (rows.length < 2) return rows;
  const seen = new Set<string>();
  return rows.filter((row) => {
    // One tagged segment per value, each ended by a NUL no segment contains: a string as it
    // is (when it has no NUL), anything else as JSON, which escapes NUL.
    let key = '';
    for (const name in row) {
      const value: unknown = row[name];
      key +=
        typeof value === 'string' && !value.includes('\u0000')
          ? `s${value}\u0000`
          : `j${JSON.stringify(value)}\u0000`;
    }
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
