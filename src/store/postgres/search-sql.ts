import type { Condition, Prefix, SearchQuery, SearchValue, SortKey } from '../../search/query.js';
import type { SearchParamType } from '../../search/registry.js';
import { auditHasSet, auditIdSet } from './audit-event-sql.js';

/** Collects bind parameters; every value in the SQL goes through here. */
export class Binds {
  readonly values: unknown[] = [];
  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}

const TABLES: Record<SearchParamType, string> = {
  string: 'idx_string',
  token: 'idx_token',
  date: 'idx_date',
  reference: 'idx_reference',
  number: 'idx_number',
  quantity: 'idx_number',
  uri: 'idx_uri',
};

const likeEscape = (value: string) => value.replace(/[\\%_]/g, (char) => `\\${char}`);
const DAY = 86_400_000;
const EARLIEST = Date.parse('0001-01-01T00:00:00.000Z');
const LATEST = Date.parse('9999-12-31T23:59:59.999Z');

function datePredicate(b: Binds, prefix: Prefix, start: string, end: string): string {
  // Bound only when used: an unreferenced bind parameter has no type and fails the query.
  const qs = () => `${b.add(start)}::timestamptz`;
  const qe = () => `${b.add(end)}::timestamptz`;
  switch (prefix) {
    case 'eq':
      return `(i.start_at >= ${qs()} AND i.end_at <= ${qe()})`;
    case 'ne':
      return `NOT (i.start_at >= ${qs()} AND i.end_at <= ${qe()})`;
    case 'gt':
      return `i.end_at > ${qe()}`;
    case 'lt':
      return `i.start_at < ${qs()}`;
    case 'ge':
      return `i.end_at >= ${qs()}`;
    case 'le':
      return `i.start_at <= ${qe()}`;
    case 'sa':
      return `i.start_at > ${qe()}`;
    case 'eb':
      return `i.end_at < ${qs()}`;
    case 'ap': {
      // "Approximately": within 10% of the distance from now, and never less than a day.
      const from = Date.parse(start);
      const delta = Math.max(Math.abs(Date.now() - from) * 0.1, DAY);
      // Kept within years 1-9999, the range Postgres (and FHIR) dates have.
      const clamp = (ms: number) =>
        new Date(Math.min(Math.max(ms, EARLIEST), LATEST)).toISOString();
      const low = clamp(from - delta);
      const high = clamp(Date.parse(end) + delta);
      return `(i.start_at <= ${b.add(high)}::timestamptz AND i.end_at >= ${b.add(low)}::timestamptz)`;
    }
  }
}

function numberPredicate(b: Binds, value: Extract<SearchValue, { kind: 'number' }>): string {
  const n = () => `${b.add(value.value)}::numeric`;
  let predicate: string;
  switch (value.prefix) {
    case 'eq':
      predicate = `(i.value >= ${b.add(value.low)}::numeric AND i.value < ${b.add(value.high)}::numeric)`;
      break;
    case 'ne':
      predicate = `NOT (i.value >= ${b.add(value.low)}::numeric AND i.value < ${b.add(value.high)}::numeric)`;
      break;
    case 'gt':
    case 'sa':
      predicate = `i.value > ${n()}`;
      break;
    case 'lt':
    case 'eb':
      predicate = `i.value < ${n()}`;
      break;
    case 'ge':
      predicate = `i.value >= ${n()}`;
      break;
    case 'le':
      predicate = `i.value <= ${n()}`;
      break;
    case 'ap': {
      const spread = Math.abs(value.value) * 0.1;
      predicate = `(i.value BETWEEN ${b.add(value.value - spread)}::numeric AND ${b.add(value.value + spread)}::numeric)`;
    }
  }
  if (value.system) predicate += ` AND i.system = ${b.add(value.system)}`;
  if (value.unit) predicate += ` AND i.unit = ${b.add(value.unit)}`;
  return `(${predicate})`;
}

function valuePredicate(b: Binds, modifier: string | undefined, value: SearchValue): string {
  switch (value.kind) {
    case 'string':
      if (modifier === 'text') return `i.text LIKE ${b.add(`${likeEscape(value.text)}%`)}`;
      if (modifier === 'exact') return `i.exact = ${b.add(value.text)}`;
      if (modifier === 'contains') return `i.value LIKE ${b.add(`%${likeEscape(value.text)}%`)}`;
      return `i.value LIKE ${b.add(`${likeEscape(value.text)}%`)}`;
    case 'token': {
      const parts: string[] = [];
      if (value.system === null) parts.push('i.system IS NULL');
      else if (value.system !== undefined) parts.push(`i.system = ${b.add(value.system)}`);
      if (value.code !== undefined) parts.push(`i.value = ${b.add(value.code)}`);
      return `(${parts.join(' AND ') || 'TRUE'})`;
    }
    case 'date':
      return datePredicate(b, value.prefix, value.start, value.end);
    case 'number':
      return numberPredicate(b, value);
    case 'reference':
      if (value.url !== undefined) return `i.url = ${b.add(value.url)}`;
      if (value.type)
        return `(i.target_id = ${b.add(value.id)} AND i.target_type = ${b.add(value.type)})`;
      return `i.target_id = ${b.add(value.id)}`;
    case 'uri':
      return modifier === 'below'
        ? `i.value LIKE ${b.add(`${likeEscape(value.value)}%`)}`
        : `i.value = ${b.add(value.value)}`;
  }
}

const live = (b: Binds, type: string) =>
  `SELECT c.id FROM resource_current c WHERE c.resource_type = ${b.add(type)} AND NOT c.deleted`;

/**
 * The caller's grant on a type a condition reaches into (a chain's target, a `_has` source), as
 * a condition over the `resource_current` row `alias`; undefined when it restricts nothing.
 */
export type Guard = (b: Binds, alias: string, type: string) => string | undefined;

/**
 * The ids of `type` matching `inner` that the guard lets the caller see: a chain or `_has`
 * must never tell a caller anything about resources of another type it may not read.
 */
export function guarded(b: Binds, type: string, inner: string, guard: Guard | undefined): string {
  const allowed = guard?.(b, 'g', type);
  if (allowed === undefined) return inner;
  return `SELECT g.id FROM resource_current g WHERE g.resource_type = ${b.add(type)}
    AND NOT g.deleted AND g.id IN (${inner}) AND ${allowed}`;
}

/**
 * SQL listing the ids of `type` that satisfy one condition (an id may repeat). `guard` holds
 * what a chain or `_has` reaches to the caller's grant on that type.
 */
export function matchSet(b: Binds, type: string, condition: Condition, guard?: Guard): string {
  switch (condition.kind) {
    case 'values': {
      const { param, modifier } = condition;
      const table = TABLES[param.type];
      const head = `SELECT i.id FROM ${table} i WHERE i.resource_type = ${b.add(type)} AND i.code = ${b.add(param.code)}`;
      if (modifier === 'not') {
        // :not matches resources with no matching value at all, including those with none.
        const positive = condition.values.map((value) => valuePredicate(b, undefined, value));
        return `${live(b, type)} AND c.id NOT IN (${head} AND (${positive.join(' OR ')}))`;
      }
      const ored = condition.values.map((value) => valuePredicate(b, modifier, value));
      return `${head} AND (${ored.join(' OR ')})`;
    }
    case 'missing': {
      const table = TABLES[condition.param.type];
      const present = `SELECT i.id FROM ${table} i WHERE i.resource_type = ${b.add(type)} AND i.code = ${b.add(condition.param.code)}`;
      return condition.missing ? `${live(b, type)} AND c.id NOT IN (${present})` : present;
    }
    case 'chain': {
      // AuditEvents live in their own table (audit-event-sql.ts), held to their own grant.
      const targets = (link: { type: string; next: Condition }) =>
        link.type === 'AuditEvent'
          ? auditIdSet(b, link.next, guard)
          : guarded(b, link.type, matchSet(b, link.type, link.next), guard);
      const links = condition.links.map(
        (link) => `(ref.target_type = ${b.add(link.type)} AND ref.target_id IN (${targets(link)}))`,
      );
      return `SELECT ref.id FROM idx_reference ref WHERE ref.resource_type = ${b.add(type)} AND ref.code = ${b.add(condition.param.code)} AND (${links.join(' OR ')})`;
    }
    case 'has':
      if (condition.sourceType === 'AuditEvent') {
        return auditHasSet(b, type, condition.param.code, condition.next, guard);
      }
      return `SELECT ref.target_id FROM idx_reference ref WHERE ref.resource_type = ${b.add(condition.sourceType)} AND ref.code = ${b.add(condition.param.code)} AND ref.target_type = ${b.add(type)} AND ref.id IN (${guarded(b, condition.sourceType, matchSet(b, condition.sourceType, condition.next), guard)})`;
  }
}

/**
 * The WHERE clause over `resource_current r` for a query's conditions, but `satisfied`: one
 * the caller has made hold some other way (by joining its matches). A condition in `named` is
 * read from the CTE of that name (its `matchSet`, written once in the statement).
 */
export function whereClause(
  b: Binds,
  query: SearchQuery,
  satisfied?: Condition,
  guard?: Guard,
  named?: ReadonlyMap<Condition, string>,
): string {
  const parts = [`r.resource_type = ${b.add(query.type)}`, 'NOT r.deleted'];
  for (const condition of query.conditions) {
    if (condition === satisfied) continue;
    const cte = named?.get(condition);
    parts.push(
      `r.id IN (${cte ? `SELECT id FROM ${cte}` : matchSet(b, query.type, condition, guard)})`,
    );
  }
  return parts.join(' AND ');
}

/** Conditions counted per page at most (each costs up to FEW_MATCHES + 1 index entries). */
export const MAX_PROBES = 4;

/**
 * The conditions whose matches are worth counting up to a bound before choosing a plan: those
 * that list values, chains and `_has` (`:not` and `:missing` match most resources, so they are
 * left out), the first MAX_PROBES of them.
 */
export function probeConditions(query: SearchQuery): Condition[] {
  return query.conditions
    .filter(
      (condition) =>
        (condition.kind === 'values' && condition.modifier !== 'not') ||
        condition.kind === 'chain' ||
        condition.kind === 'has',
    )
    .slice(0, MAX_PROBES);
}

export type SqlType = 'text' | 'timestamptz' | 'numeric';

export interface SortColumn {
  expression: string;
  sqlType: SqlType;
  descending: boolean;
}

/** A sort key as a per-row expression: a resource with several values sorts by its lowest (highest when descending). */
export function sortColumn(b: Binds, key: SortKey): SortColumn {
  if (key.code === '_id')
    return { expression: 'r.id', sqlType: 'text', descending: key.descending };
  if (key.code === '_lastUpdated') {
    return { expression: 'r.last_updated', sqlType: 'timestamptz', descending: key.descending };
  }
  const param = key.param!;
  const table = TABLES[param.type];
  const pick = key.descending ? 'max' : 'min';
  const [column, sqlType]: [string, SqlType] =
    param.type === 'date'
      ? [key.descending ? 'i.end_at' : 'i.start_at', 'timestamptz']
      : param.type === 'number' || param.type === 'quantity'
        ? ['i.value', 'numeric']
        : ['i.value', 'text'];
  return {
    expression: `(SELECT ${pick}(${column}) FROM ${table} i WHERE i.resource_type = r.resource_type AND i.id = r.id AND i.code = ${b.add(param.code)})`,
    sqlType,
    descending: key.descending,
  };
}

interface Ordered {
  column: string;
  sqlType: SqlType;
  descending: boolean;
  nullsLast: boolean;
}

/**
 * Rows strictly after `values` in the order given: the lexicographic keyset condition,
 * written out key by key so each may have its own direction and NULL placement.
 */
export function keysetCondition(b: Binds, keys: Ordered[], values: (string | null)[]): string {
  const alternatives: string[] = [];
  for (let i = 0; i < keys.length; i++) {
    const equal = keys.slice(0, i).map((key, j) => {
      const v = values[j];
      return v === null ? `${key.column} IS NULL` : `${key.column} = ${b.add(v)}::${key.sqlType}`;
    });
    const key = keys[i]!;
    const v = values[i];
    let after: string;
    if (v === null || v === undefined)
      after = key.nullsLast ? 'FALSE' : `${key.column} IS NOT NULL`;
    else {
      const op = key.descending ? '<' : '>';
      after = `(${key.column} ${op} ${b.add(v)}::${key.sqlType}${key.nullsLast ? ` OR ${key.column} IS NULL` : ''})`;
    }
    alternatives.push(`(${[...equal, after].join(' AND ')})`);
  }
  return `(${alternatives.join(' OR ')})`;
}

export type { Ordered };
