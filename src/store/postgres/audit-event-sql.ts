/**
 * AuditEvent search as SQL over the one-row-per-event table `audit_event e`
 * (008_audit_event.sql): each supported parameter is a column with its own index, so a
 * condition is a test on a column, never a join to the generic index tables. The access policy
 * is SQL over the same row (`auditAccessCondition`), ANDed into every query of the AuditEvent
 * store, so what a caller may not see is never fetched, counted or paged over.
 */
import type { Visibility } from './access-sql.js';
import { grantCondition, patientSet } from './access-sql.js';
import { FhirError } from '../../fhir/errors.js';
import type { Condition, Prefix, SearchValue } from '../../search/query.js';
import { parseSearch } from '../../search/parse.js';
import type { AuditEventSearchParam } from '../../search/audit-event-params.js';
import { matchSet, guarded, type Binds, type Guard } from './search-sql.js';

type Column =
  | { kind: 'refs'; column: string; bareIds?: boolean }
  | { kind: 'tokens'; column: string }
  | { kind: 'scalar'; column: string }
  | { kind: 'values'; column: string }
  | { kind: 'instant'; column: string }
  | { kind: 'strings'; column: string };

/** The parameters AuditEvent search answers, and the column each is answered from. */
const COLUMNS: Record<AuditEventSearchParam, Column> & Partial<Record<string, Column>> = {
  _id: { kind: 'scalar', column: 'e.id' },
  _lastUpdated: { kind: 'instant', column: 'e.last_updated' },
  date: { kind: 'instant', column: 'e.recorded' },
  patient: { kind: 'refs', column: 'e.patient', bareIds: true },
  agent: { kind: 'refs', column: 'e.agent' },
  entity: { kind: 'refs', column: 'e.entity' },
  type: { kind: 'tokens', column: 'e.type' },
  subtype: { kind: 'tokens', column: 'e.subtype' },
  'purpose-of-use': { kind: 'tokens', column: 'e.purpose_of_use' },
  action: { kind: 'scalar', column: 'e.action' },
  outcome: { kind: 'scalar', column: 'e.outcome' },
  'request-id': { kind: 'scalar', column: 'e.request_id' },
  altid: { kind: 'values', column: 'e.altid' },
  address: { kind: 'strings', column: 'e.address' },
};

/** The sort keys AuditEvent search takes, as columns. */
export const AUDIT_EVENT_SORTS: Record<
  string,
  { column: string; sqlType: 'text' | 'timestamptz' }
> = {
  _id: { column: 'e.id', sqlType: 'text' },
  date: { column: 'e.recorded', sqlType: 'timestamptz' },
  _lastUpdated: { column: 'e.last_updated', sqlType: 'timestamptz' },
};

const unsupported = (what: string) =>
  new FhirError(400, 'not-supported', `AuditEvent search does not support ${what}`);

const DAY = 86_400_000;

function instantPredicate(b: Binds, column: string, prefix: Prefix, start: string, end: string) {
  const qs = () => `${b.add(start)}::timestamptz`;
  const qe = () => `${b.add(end)}::timestamptz`;
  switch (prefix) {
    case 'eq':
      return `(${column} >= ${qs()} AND ${column} <= ${qe()})`;
    case 'ne':
      return `NOT (${column} >= ${qs()} AND ${column} <= ${qe()})`;
    case 'gt':
    case 'sa':
      return `${column} > ${qe()}`;
    case 'lt':
    case 'eb':
      return `${column} < ${qs()}`;
    case 'ge':
      return `${column} >= ${qs()}`;
    case 'le':
      return `${column} <= ${qe()}`;
    case 'ap': {
      const from = Date.parse(start);
      const delta = Math.max(Math.abs(Date.now() - from) * 0.1, DAY);
      const low = new Date(from - delta).toISOString();
      const high = new Date(Date.parse(end) + delta).toISOString();
      return `(${column} BETWEEN ${b.add(low)}::timestamptz AND ${b.add(high)}::timestamptz)`;
    }
  }
}

/** The keys a token value matches in a tokens column (see 008_audit_event.sql). */
function tokenKey(value: Extract<SearchValue, { kind: 'token' }>): string | undefined {
  if (value.code === undefined) return value.system ? `${value.system}|` : undefined;
  if (value.system === undefined) return value.code;
  return `${value.system ?? ''}|${value.code}`;
}

/** The key a reference value matches in a references column, or undefined for none. */
function referenceKey(
  value: Extract<SearchValue, { kind: 'reference' }>,
  bareIds: boolean,
): string | undefined {
  let type = value.type;
  let id = value.id;
  if (value.url !== undefined) {
    const tail = /([A-Za-z]+)\/([A-Za-z0-9.-]+)$/.exec(value.url);
    if (!tail) return undefined;
    [, type, id] = tail;
  }
  if (!id) return undefined;
  if (bareIds) return type && type !== 'Patient' ? undefined : id;
  return type ? `${type}/${id}` : id;
}

const likeEscape = (value: string) => value.replace(/[\\%_]/g, (char) => `\\${char}`);

function valuesCondition(
  b: Binds,
  column: Column,
  modifier: string | undefined,
  values: SearchValue[],
) {
  const keys: string[] = [];
  const ored: string[] = [];
  for (const value of values) {
    if (value.kind === 'date' && column.kind === 'instant') {
      ored.push(instantPredicate(b, column.column, value.prefix, value.start, value.end));
    } else if (value.kind === 'token' && column.kind === 'tokens') {
      const key = tokenKey(value);
      if (key !== undefined) keys.push(key);
    } else if (value.kind === 'token' && (column.kind === 'scalar' || column.kind === 'values')) {
      // These carry no system: a value with one (other than "none") can't match.
      if (value.code !== undefined && !value.system) keys.push(value.code);
    } else if (value.kind === 'reference' && column.kind === 'refs') {
      const key = referenceKey(value, column.bareIds === true);
      if (key !== undefined) keys.push(key);
    } else if (value.kind === 'string' && column.kind === 'strings' && !modifier) {
      ored.push(
        `EXISTS (SELECT 1 FROM unnest(${column.column}) v WHERE lower(v) LIKE ${b.add(
          `${likeEscape(value.text)}%`,
        )})`,
      );
    } else throw unsupported(`this value or modifier on ${column.column.slice(2)}`);
  }
  if (keys.length) {
    ored.push(
      column.kind === 'scalar'
        ? `${column.column} = ANY(${b.add(keys)}::text[])`
        : `${column.column} && ${b.add(keys)}::text[]`,
    );
  }
  return ored.length ? `(${ored.join(' OR ')})` : 'FALSE';
}

/**
 * One condition of an AuditEvent search as SQL over `audit_event e`. A chain (`patient.name=`,
 * `entity:Appointment.status=`) matches the events naming a resource of the target type that
 * the chained condition finds among what the caller may search of that type (`guard`).
 * Anything else this table can't answer is a 400.
 */
export function auditCondition(b: Binds, condition: Condition, guard: Guard | undefined): string {
  const column = COLUMNS[condition.param.code];
  if (!column || condition.kind === 'has') throw unsupported(describe(condition));
  switch (condition.kind) {
    case 'missing': {
      const none =
        column.kind === 'scalar' || column.kind === 'instant'
          ? `${column.column} IS NULL`
          : `cardinality(${column.column}) = 0`;
      return condition.missing ? none : `NOT (${none})`;
    }
    case 'values': {
      const { modifier } = condition;
      if (modifier === 'not' && column.kind !== 'instant') {
        return `NOT ${valuesCondition(b, column, undefined, condition.values)}`;
      }
      if (modifier) throw unsupported(`:${modifier}`);
      return valuesCondition(b, column, undefined, condition.values);
    }
    case 'chain': {
      if (column.kind !== 'refs') throw unsupported(describe(condition));
      const arms = condition.links.map((link) => {
        const ids = guarded(b, link.type, matchSet(b, link.type, link.next), guard);
        const key = column.bareIds ? 'x.id' : `${b.add(`${link.type}/`)} || x.id`;
        if (column.bareIds && link.type !== 'Patient') return 'FALSE';
        return `${column.column} && ARRAY(SELECT ${key} FROM (${ids}) x (id))`;
      });
      return `(${arms.join(' OR ')})`;
    }
  }
}

function describe(condition: Condition): string {
  return condition.kind === 'has' ? '_has' : `the parameter ${condition.param.code}`;
}

/**
 * The access policy over `audit_event e`. AuditEvent's patient compartment is its `patient`
 * parameter (R4 CompartmentDefinition), which is the `patient` column; a v2 filter
 * (`system/AuditEvent.rs?action=R`) is the search it names. A filter this table can't answer
 * matches nothing: a restriction we can't apply must narrow, never widen.
 */
export function auditAccessCondition(b: Binds, seen: Visibility): string {
  return grantCondition(
    seen,
    (c) => `e.patient && ARRAY(${patientSet(b, c)})`,
    (filter) => filterCondition(b, filter),
  );
}

function filterCondition(b: Binds, filter: URLSearchParams): string {
  const bound = b.values.length;
  try {
    const { conditions } = parseSearch('AuditEvent', filter, { baseUrl: '', strict: true });
    if (!conditions.length) return 'FALSE';
    // A chain in a filter reaches nothing: the filter names this type's own values only.
    const parts = conditions.map((c) => auditCondition(b, c, () => 'FALSE'));
    return `(${parts.join(' AND ')})`;
  } catch {
    // A filter that failed half-way must leave no binds behind that the SQL doesn't use.
    b.values.length = bound;
    return 'FALSE';
  }
}

/** The reference parameters of AuditEvent and the columns they are kept in. */
const REFERENCES = ['patient', 'agent', 'entity'] as const;

/**
 * `_has:AuditEvent:<param>:<condition>` on another type: the ids of `type` named, in `param`,
 * by the events matching `next` that the caller may search (`guard` gives the AuditEvent grant).
 */
export function auditHasSet(
  b: Binds,
  type: string,
  param: string,
  next: Condition,
  guard: Guard | undefined,
): string {
  const allowed = guard?.(b, 'e', 'AuditEvent');
  const where = [auditCondition(b, next, guard), ...(allowed ? [allowed] : [])];
  const column = COLUMNS[param];
  if (column?.kind !== 'refs') throw unsupported(`_has with ${param}`);
  if (column.bareIds) {
    if (type !== 'Patient') return 'SELECT NULL::text WHERE FALSE';
    return `SELECT k FROM audit_event e, unnest(e.patient) k WHERE ${where.join(' AND ')}`;
  }
  return `SELECT split_part(k, '/', 2) FROM audit_event e, unnest(${column.column}) k
    WHERE k LIKE ${b.add(`${type}/%`)} AND ${where.join(' AND ')}`;
}

/** The ids of the AuditEvents matching `next` that the caller may search: a chain's target. */
export function auditIdSet(b: Binds, next: Condition, guard: Guard | undefined): string {
  const allowed = guard?.(b, 'e', 'AuditEvent');
  const where = [auditCondition(b, next, guard), ...(allowed ? [allowed] : [])];
  return `SELECT e.id FROM audit_event e WHERE ${where.join(' AND ')}`;
}

/**
 * `_revinclude=AuditEvent:<param>` (or `:*`): the events naming any of `ids` of `type`, as
 * SQL returning `e.json`, held to `access` (the caller's read grant on AuditEvent).
 */
export function auditRevincludeSql(
  b: Binds,
  code: string,
  type: string,
  ids: string[],
  access: string,
): string {
  const codes = code === '*' ? [...REFERENCES] : [code];
  const arms = codes.map((c) => {
    const column = COLUMNS[c];
    if (column?.kind !== 'refs') throw unsupported(`_revinclude of ${c}`);
    if (column.bareIds) {
      return type === 'Patient' ? `${column.column} && ${b.add(ids)}::text[]` : 'FALSE';
    }
    return `${column.column} && ${b.add(ids.map((id) => `${type}/${id}`))}::text[]`;
  });
  return `SELECT e.json FROM audit_event e WHERE (${arms.join(' OR ')}) AND ${access}`;
}
