import { FhirError } from '../fhir/errors.js';
import { RESOURCE_TYPES } from '../fhir/resource-types.js';
import { dateRange } from './dates.js';
import { normaliseString } from './normalise.js';
import type { Prefix, SearchValue } from './query.js';
import { parseReference } from './references.js';
import type { SearchParamDef } from './registry.js';

const PREFIXES = new Set<Prefix>(['eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb', 'ap']);
const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

const bad = (name: string, raw: string, why: string) =>
  new FhirError(400, 'value', `Search parameter ${name}: "${raw}" ${why}`);

/** Splits on a separator that isn't backslash-escaped; escapes stay for the next split. */
export function splitEscaped(value: string, separator: string): string[] {
  const parts: string[] = [];
  let current = '';
  for (let i = 0; i < value.length; i++) {
    const char = value[i]!;
    if (char === '\\' && i + 1 < value.length) {
      current += char + value[i + 1];
      i++;
    } else if (char === separator) {
      parts.push(current);
      current = '';
    } else current += char;
  }
  parts.push(current);
  return parts;
}

export const unescape = (value: string) => value.replace(/\\([\\,|$])/g, '$1');

function prefixed(raw: string): [Prefix, string] {
  const head = raw.slice(0, 2) as Prefix;
  return PREFIXES.has(head) && /^[\d.+-]/.test(raw.slice(2)) ? [head, raw.slice(2)] : ['eq', raw];
}

/** FHIR wants `+` in a time zone percent-encoded; a bare `+` arrives as a space. */
const restorePlus = (value: string) => value.replace(/ (\d{2}:\d{2})$/, '+$1');

function dateValue(name: string, raw: string): SearchValue {
  const [prefix, rest] = prefixed(raw);
  const range = dateRange(restorePlus(rest));
  if (!range) throw bad(name, raw, 'is not a date, dateTime or instant (with an optional prefix)');
  return { kind: 'date', prefix, ...range };
}

function numberValue(name: string, raw: string, quantity: boolean): SearchValue {
  const [prefix, rest] = prefixed(raw);
  const [number = '', system, unit, ...extra] = quantity ? splitEscaped(rest, '|') : [rest];
  if (!NUMBER.test(number) || extra.length) throw bad(name, raw, 'is not a number');
  const value = Number(number);
  // The precision of what was written is the range it stands for: 100 means [99.5, 100.5).
  const decimals = /\.(\d+)/.exec(number.split(/[eE]/)[0]!)?.[1]?.length ?? 0;
  const exponent = Number(/[eE]([+-]?\d+)$/.exec(number)?.[1] ?? 0);
  const half = 0.5 * 10 ** (exponent - decimals);
  return {
    kind: 'number',
    prefix,
    value,
    low: value - half,
    high: value + half,
    ...(system ? { system: unescape(system) } : {}),
    ...(unit ? { unit: unescape(unit) } : {}),
  };
}

function tokenValue(raw: string): SearchValue {
  const parts = splitEscaped(raw, '|');
  if (parts.length === 1) return { kind: 'token', system: undefined, code: unescape(raw) };
  const system = unescape(parts[0]!);
  const code = unescape(parts.slice(1).join('|'));
  return {
    kind: 'token',
    system: system === '' ? null : system,
    code: code === '' ? undefined : code,
  };
}

function referenceValue(
  param: SearchParamDef,
  raw: string,
  typeModifier: string | undefined,
  baseUrl: string,
): SearchValue {
  const value = unescape(raw);
  if (!value.includes('/') && !value.includes(':')) {
    const only = param.targets.length === 1 ? param.targets[0] : undefined;
    return { kind: 'reference', type: typeModifier ?? only, id: value, url: undefined };
  }
  const parsed = parseReference(value, baseUrl);
  if (parsed?.targetType && parsed.targetId) {
    const local = !/^[a-z][a-z0-9+.-]*:/i.test(value) || value.startsWith(`${baseUrl}/`);
    if (local)
      return { kind: 'reference', type: parsed.targetType, id: parsed.targetId, url: undefined };
  }
  return { kind: 'reference', type: undefined, id: undefined, url: value };
}

/** The values of one parameter occurrence (comma = OR), checked against its type. */
export function parseValues(
  param: SearchParamDef,
  name: string,
  modifier: string | undefined,
  raw: string,
  baseUrl: string,
): SearchValue[] {
  const parts = splitEscaped(raw, ',');
  if (parts.some((part) => part === '')) throw bad(name, raw, 'has an empty value');
  return parts.map((part) => {
    if (param.type === 'token' && modifier === 'text') {
      return { kind: 'string', text: normaliseString(unescape(part)) };
    }
    switch (param.type) {
      case 'string': {
        const text = unescape(part);
        return { kind: 'string', text: modifier === 'exact' ? text : normaliseString(text) };
      }
      case 'token':
        return tokenValue(part);
      case 'date':
        return dateValue(name, part);
      case 'number':
        return numberValue(name, part, false);
      case 'quantity':
        return numberValue(name, part, true);
      case 'reference':
        return referenceValue(param, part, modifier, baseUrl);
      case 'uri':
        return { kind: 'uri', value: unescape(part) };
    }
  });
}

const MODIFIERS: Record<SearchParamDef['type'], string[]> = {
  string: ['exact', 'contains'],
  token: ['not', 'text'],
  date: [],
  number: [],
  quantity: [],
  reference: [],
  uri: ['below'],
};

/** Refuses modifiers the parameter's type doesn't have (or that we don't implement). */
export function checkModifier(param: SearchParamDef, name: string, modifier: string | undefined) {
  if (modifier === undefined || modifier === 'missing') return;
  if (param.type === 'reference' && RESOURCE_TYPES.has(modifier)) {
    if (param.targets.length && !param.targets.includes(modifier)) {
      throw new FhirError(400, 'value', `${name}: ${modifier} is not a target of ${param.code}`);
    }
    return;
  }
  if (!MODIFIERS[param.type].includes(modifier)) {
    throw new FhirError(
      400,
      'not-supported',
      `Modifier :${modifier} is not supported on ${param.code}`,
    );
  }
}
