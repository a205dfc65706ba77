import { FhirError } from './errors.js';

/** Parameters every FHIR endpoint understands whatever else it takes. */
export const GLOBAL_PARAMS = new Set(['_format', '_pretty']);

/**
 * R4's result parameters and the global ones: they shape a response instead of restricting
 * which resources match, so where a search is only a filter (a SMART v2 scope's restriction,
 * an export's `_typeFilter`) naming one is malformed.
 */
export const RESULT_PARAMETERS: ReadonlySet<string> = new Set([
  '_count',
  '_sort',
  '_include',
  '_revinclude',
  '_summary',
  '_elements',
  '_total',
  '_contained',
  '_containedType',
  ...GLOBAL_PARAMS,
]);

export function single(params: URLSearchParams, name: string): string | undefined {
  const values = params.getAll(name);
  if (values.length > 1) throw new FhirError(400, 'invalid', `${name} may be given only once`);
  return values[0];
}

/** `_count`: 0 (total only) up to `max`; larger asks are served `max`, as the spec allows. */
export function parseCount(raw: string | undefined, fallback: number, max: number): number {
  if (raw === undefined) return fallback;
  if (!/^\d{1,9}$/.test(raw)) {
    throw new FhirError(400, 'invalid', `_count must be a whole number (got "${raw}")`);
  }
  return Math.min(Number(raw), max);
}

const INSTANT =
  /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])(T([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d{1,9})?(Z|[+-]((0\d|1[0-3]):[0-5]\d|14:00)))?$/;

/** An instant (or a whole date) as an ISO string Postgres and Date both read. */
export function parseInstant(name: string, raw: string): string {
  if (!INSTANT.test(raw) || Number.isNaN(Date.parse(raw))) {
    throw new FhirError(400, 'invalid', `${name} must be an instant like 2024-01-31T09:30:00Z`);
  }
  return raw;
}

/** With `Prefer: handling=strict`, parameters the endpoint doesn't know are refused. */
export function rejectUnknown(params: URLSearchParams, known: Set<string>, strict: boolean): void {
  if (!strict) return;
  const unknown = [...new Set(params.keys())].filter(
    (name) => !known.has(name) && !GLOBAL_PARAMS.has(name),
  );
  if (unknown.length) {
    throw new FhirError(400, 'not-supported', `Unknown parameter(s): ${unknown.join(', ')}`);
  }
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f]/;

/**
 * Control characters other than tab, LF and CR can't be in a FHIR string, so no search value
 * can match one; Postgres refuses a NUL in any text parameter. Refused before any SQL is built.
 */
export function rejectControlCharacters(params: URLSearchParams): void {
  for (const [name, value] of params) {
    if (CONTROL.test(name) || CONTROL.test(value)) {
      throw new FhirError(
        400,
        'value',
        'A search parameter has a control character; only tab, CR and LF are allowed',
      );
    }
  }
}
