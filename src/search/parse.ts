import { FhirError } from '../fhir/errors.js';
import { GLOBAL_PARAMS, parseCount, rejectControlCharacters, single } from '../fhir/params.js';
import { RESOURCE_TYPES } from '../fhir/resource-types.js';
import type {
  Condition,
  IncludeSpec,
  SearchQuery,
  SortKey,
  SummaryMode,
  TotalMode,
} from './query.js';
import { searchParam, searchParamsFor } from './registry.js';
import { checkModifier, parseValues } from './values.js';

export const DEFAULT_COUNT = 20;
export const MAX_COUNT = 1000;

const RESULT_PARAMS = new Set([
  '_count',
  '_sort',
  '_total',
  '_summary',
  '_elements',
  '_include',
  '_revinclude',
  '_cursor',
]);
const SORTABLE = new Set(['string', 'token', 'date', 'number', 'quantity', 'uri']);

export interface ParseOptions {
  baseUrl: string;
  /** `Prefer: handling=strict`: unknown parameters are an error rather than ignored. */
  strict: boolean;
}

const unknown = (name: string, type: string) =>
  new FhirError(
    400,
    'not-supported',
    `Unknown or unsupported search parameter "${name}" for ${type}`,
  );

/**
 * One `name=value` pair as a condition on `type`, or undefined when the name is not a search
 * parameter of that type. Handles `:modifier`, one level of chaining (`subject:Patient.name`)
 * and one level of `_has` (`_has:Observation:patient:code`).
 */
function parseCondition(
  type: string,
  name: string,
  raw: string,
  baseUrl: string,
  depth = 0,
): Condition | undefined {
  if (name.startsWith('_has:')) {
    const [, sourceType = '', code = '', ...rest] = name.split(':');
    const param = searchParam(sourceType, code);
    if (depth > 0 || !param || param.type !== 'reference' || !rest.length) return undefined;
    if (param.targets.length && !param.targets.includes(type)) return undefined;
    const next = parseCondition(sourceType, rest.join(':'), raw, baseUrl, depth + 1);
    return next && { kind: 'has', sourceType, param, next };
  }
  const dot = name.indexOf('.');
  const head = dot < 0 ? name : name.slice(0, dot);
  const [code = '', modifier, ...more] = head.split(':');
  const param = searchParam(type, code);
  if (!param || more.length) return undefined;
  if (dot >= 0) {
    if (depth > 0 || param.type !== 'reference') return undefined;
    const chained = name.slice(dot + 1);
    const chainCode = chained.split(/[:.]/)[0]!;
    const candidates = modifier ? [modifier] : param.targets;
    const targets = candidates.filter(
      (target) => RESOURCE_TYPES.has(target) && searchParam(target, chainCode),
    );
    if (!targets.length) return undefined;
    const links: { type: string; next: Condition }[] = [];
    for (const target of targets) {
      const next = parseCondition(target, chained, raw, baseUrl, depth + 1);
      if (!next) return undefined;
      links.push({ type: target, next });
    }
    return { kind: 'chain', param, links }; // the links are ORed: any target type may match
  }
  checkModifier(param, name, modifier);
  if (modifier === 'missing') {
    if (raw !== 'true' && raw !== 'false') {
      throw new FhirError(400, 'value', `${name} takes true or false`);
    }
    return { kind: 'missing', param, missing: raw === 'true' };
  }
  return {
    kind: 'values',
    param,
    modifier,
    values: parseValues(param, name, modifier, raw, baseUrl),
  };
}

function parseSort(type: string, raw: string): SortKey[] {
  return raw.split(',').map((part) => {
    const descending = part.startsWith('-');
    const code = descending ? part.slice(1) : part;
    if (code === '_id' || code === '_lastUpdated') return { code, param: undefined, descending };
    const param = searchParam(type, code);
    if (!param || !SORTABLE.has(param.type)) {
      throw new FhirError(400, 'not-supported', `_sort: ${type} can't be sorted by "${code}"`);
    }
    return { code, param, descending };
  });
}

function parseInclude(type: string, raw: string, reverse: boolean, iterate: boolean): IncludeSpec {
  // `_include=*`: every reference of the matches; `_include:iterate=*`: of whatever was included.
  if (raw === '*' && !reverse) {
    return { sourceType: iterate ? '*' : type, code: '*', targetType: undefined, iterate };
  }
  const [sourceType = '', code = '', targetType, ...rest] = raw.split(':');
  const name = reverse ? '_revinclude' : '_include';
  if (rest.length || !RESOURCE_TYPES.has(sourceType)) {
    throw new FhirError(400, 'value', `${name}=${raw}: expected Type:parameter[:targetType]`);
  }
  if (!reverse && !iterate && sourceType !== type) {
    throw new FhirError(400, 'value', `_include=${raw}: the source type must be ${type}`);
  }
  if (code !== '*') {
    const param = searchParam(sourceType, code);
    if (!param || param.type !== 'reference') {
      throw new FhirError(
        400,
        'value',
        `${name}=${raw}: ${code} is not a reference parameter of ${sourceType}`,
      );
    }
  }
  if (targetType !== undefined && !RESOURCE_TYPES.has(targetType)) {
    throw new FhirError(400, 'value', `${name}=${raw}: unknown target type ${targetType}`);
  }
  if (reverse && !iterate && code !== '*' && targetType && targetType !== type) {
    throw new FhirError(400, 'value', `_revinclude=${raw}: the target type must be ${type}`);
  }
  return { sourceType, code, targetType, iterate };
}

function oneOf<T extends string>(
  name: string,
  raw: string | undefined,
  allowed: readonly T[],
): T | undefined {
  if (raw === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new FhirError(400, 'value', `${name} must be one of ${allowed.join(', ')}`);
  }
  return raw as T;
}

/** Parses a search of `type`: conditions, result parameters and what was applied. */
export function parseSearch(
  type: string,
  params: URLSearchParams,
  options: ParseOptions,
): SearchQuery {
  if (!searchParamsFor(type).size)
    throw new FhirError(404, 'not-supported', `Unknown type ${type}`);
  rejectControlCharacters(params);
  const query: SearchQuery = {
    type,
    conditions: [],
    sort: [],
    count: parseCount(single(params, '_count'), DEFAULT_COUNT, MAX_COUNT),
    total: oneOf<TotalMode>('_total', single(params, '_total'), ['none', 'estimate', 'accurate']),
    summary: oneOf<SummaryMode>('_summary', single(params, '_summary'), [
      'true',
      'false',
      'text',
      'data',
      'count',
    ]),
    elements: undefined,
    include: [],
    revinclude: [],
    applied: [],
  };
  for (const [name, raw] of params) {
    const base = name.split(':')[0]!;
    if (GLOBAL_PARAMS.has(name) || name === '_cursor') continue;
    if (RESULT_PARAMS.has(base)) {
      const iterate = name.endsWith(':iterate') || name.endsWith(':recurse');
      if (base === '_sort') query.sort = parseSort(type, raw);
      else if (base === '_elements') {
        query.elements = raw
          .split(',')
          .map((element) => element.trim())
          .filter(Boolean);
        if (query.elements.some((element) => !/^[A-Za-z][A-Za-z0-9]*(\[x\])?$/.test(element))) {
          throw new FhirError(400, 'value', '_elements takes top-level element names');
        }
      } else if (base === '_include') query.include.push(parseInclude(type, raw, false, iterate));
      else if (base === '_revinclude')
        query.revinclude.push(parseInclude(type, raw, true, iterate));
      else if (name !== base) throw unknown(name, type);
      query.applied.push([name, raw]);
      continue;
    }
    const condition = parseCondition(type, name, raw, options.baseUrl);
    if (!condition) {
      if (options.strict) throw unknown(name, type);
      continue; // lenient: ignored, and left out of the self link
    }
    query.conditions.push(condition);
    query.applied.push([name, raw]);
  }
  return query;
}
