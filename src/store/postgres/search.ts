import type { Resource } from 'fhir/r4.js';
import type { Condition, IncludeSpec, PagePosition, SearchQuery } from '../../search/query.js';
import type { RequestContext, SearchResult } from '../store.js';
import {
  accessCondition,
  accessConditionByType,
  reachGuard,
  requireSome,
  visibility,
  type Visibility,
} from './access-sql.js';
import { auditAccessCondition, auditRevincludeSql } from './audit-event-sql.js';
import type { Sql } from '../../db/database.js';
import {
  Binds,
  keysetCondition,
  matchSet,
  probeCondition,
  sortColumn,
  whereClause,
  type Guard,
  type Ordered,
} from './search-sql.js';

/** Included resources per search, at most: a guard against `_include=*` fan-out. */
const MAX_INCLUDED = 1000;

interface Row {
  id: string;
  content: Resource;
  [key: `s${number}`]: unknown;
}

const asKey = (value: unknown): string | null =>
  value === null || value === undefined
    ? null
    : value instanceof Date
      ? value.toISOString()
      : String(value);

/** What one caller may see: of the searched type (`seen`) and of the types it reaches (`guard`). */
export interface Sight {
  seen: Visibility;
  guard: Guard | undefined;
}

export function sightOf(ctx: RequestContext, type: string): Sight {
  return { seen: requireSome(ctx, type, 'search'), guard: reachGuard(ctx) };
}

/** The query's conditions and the caller's grant, over `resource_current r`. */
function matching(b: Binds, query: SearchQuery, sight: Sight, satisfied?: Condition): string {
  const { seen, guard } = sight;
  const where = whereClause(b, query, satisfied, guard);
  return seen.kind === 'everything'
    ? where
    : `${where} AND ${accessCondition(b, 'r', query.type, seen)}`;
}

/** Ids (and content) of up to `limit` current resources matching the conditions. */
export async function findMatches(
  sql: Sql,
  query: SearchQuery,
  limit: number,
  sight: Sight,
): Promise<Resource[]> {
  const b = new Binds();
  const where = matching(b, query, sight);
  const rows = await sql.query<{ content: Resource }>(
    `SELECT r.content FROM resource_current r WHERE ${where} LIMIT ${b.add(limit)}`,
    b.values,
  );
  return rows.map((row) => row.content);
}

async function countMatches(sql: Sql, query: SearchQuery, sight: Sight): Promise<number> {
  const b = new Binds();
  const rows = await sql.query<{ total: number }>(
    `SELECT count(*)::int AS total FROM resource_current r WHERE ${matching(b, query, sight)}`,
    b.values,
  );
  return rows[0]?.total ?? 0;
}

/**
 * Up to this many matches of one condition, a page is taken from those matches in order;
 * past it, Postgres walks the resources in order until it has a page. See `page`.
 */
export const FEW_MATCHES = 2000;

/** An ORDER BY term no index can provide, so the planner can't choose to walk an index. */
const unindexed = (key: Ordered) =>
  key.sqlType === 'text'
    ? `(${key.column} || '')`
    : key.sqlType === 'numeric'
      ? `(${key.column} + 0)`
      : `(${key.column} + interval '0 s')`;

/**
 * One page of matches in keyset order. Paging backwards runs the same query in reverse order
 * from the position, then turns the rows round.
 *
 * For a page in id order Postgres likes to walk `resource_current` by id until enough rows
 * match: quick when many do, slow when few do, and its estimate can't tell a rare name prefix
 * from a common one (a rare one walked all 100 000 Patients: 400 ms). So the statement first
 * lists up to FEW_MATCHES + 1 ids that match one condition. If there are no more, it sorts
 * those ids and looks them up in that order until it has a page (by a sort key no index
 * provides, so the walk can't be chosen); only otherwise does the walk run, and then it finds
 * a page quickly. Both branches are in the statement, gated on that count; one executes.
 */
async function page(
  sql: Sql,
  query: SearchQuery,
  position: PagePosition | undefined,
  sight: Sight,
  fewMatches: number,
) {
  const b = new Binds();
  const columns = query.sort.map((key) => sortColumn(b, key));
  const backwards = position?.direction === 'previous';
  const keysOn = (id: string): Ordered[] => [
    ...columns.map((column, i) => ({
      column: `m.s${i}`,
      sqlType: column.sqlType,
      descending: column.descending !== backwards,
      nullsLast: !backwards,
    })),
    { column: id, sqlType: 'text' as const, descending: backwards, nullsLast: !backwards },
  ];
  const order = (keys: Ordered[], term: (key: Ordered) => string) =>
    keys
      .map(
        (key) =>
          `${term(key)} ${key.descending ? 'DESC' : 'ASC'} NULLS ${key.nullsLast ? 'LAST' : 'FIRST'}`,
      )
      .join(', ');
  const selected = columns.map((column, i) => `, ${column.expression} AS s${i}`).join('');
  const out = ['m.id', 'm.content', ...columns.map((_, i) => `m.s${i}`)].join(', ');
  const limit = b.add(query.count + 1);
  const select = (
    from: { tables: string; columns: string },
    where: string,
    keys: Ordered[],
    term: (key: Ordered) => string,
    gate: string | undefined,
  ) => {
    const keyset = position && keysetCondition(b, keys, [...position.keys, position.id]);
    const filters = [gate, keyset].filter(Boolean);
    return `SELECT ${out} FROM (SELECT ${from.columns}r.id, r.content${selected}
       FROM ${from.tables} WHERE ${where}) m
     ${filters.length ? `WHERE ${filters.join(' AND ')}` : ''}
     ORDER BY ${order(keys, term)} LIMIT ${limit}`;
  };
  const walk = (gate?: string) =>
    select(
      { tables: 'resource_current r', columns: '' },
      matching(b, query, sight),
      keysOn('m.id'),
      (key) => key.column,
      gate,
    );
  const probe = probeCondition(query);
  let statement: string;
  if (!probe) statement = walk();
  else {
    const few = b.add(fewMatches);
    const probed = `SELECT p.id FROM (${matchSet(b, query.type, probe, sight.guard)}) p (id) LIMIT ${few} + 1`;
    // The probed ids, distinct and in page order; `k` is the id as a term no index gives.
    const sorted = `(SELECT DISTINCT id, id || '' AS k FROM probe ORDER BY k ${backwards ? 'DESC' : 'ASC'}) p
       JOIN resource_current r ON r.id = p.id`;
    const taken = select(
      { tables: sorted, columns: 'p.k, ' },
      matching(b, query, sight, probe),
      keysOn('m.k'),
      (key) => (key.column === 'm.k' ? key.column : unindexed(key)),
      `(SELECT count(*) FROM probe) <= ${few}`,
    );
    statement = `WITH probe AS MATERIALIZED (${probed})
     (${taken})
     UNION ALL
     (${walk(`(SELECT count(*) FROM probe) > ${few}`)})`;
  }
  const rows = await sql.query<Row>(statement, b.values);
  const more = rows.length > query.count;
  const kept = rows.slice(0, query.count);
  if (backwards) kept.reverse();
  const positionOf = (row: Row | undefined, direction: PagePosition['direction']) =>
    row && { keys: columns.map((_, i) => asKey(row[`s${i}`])), id: row.id, direction };
  const first = positionOf(kept[0], 'previous');
  const last = positionOf(kept[kept.length - 1], 'next');
  return {
    matches: kept.map((row) => row.content),
    next: (backwards ? Boolean(position) : more) ? last : undefined,
    previous: (backwards ? more : Boolean(position)) ? first : undefined,
  };
}

/**
 * What the matches refer to. Each included resource is held to the caller's read grant on its
 * own type, so an `_include` never reaches past the compartment the matches came from.
 */
async function forward(
  sql: Sql,
  spec: IncludeSpec,
  from: Resource[],
  ctx: RequestContext,
): Promise<Resource[]> {
  if (spec.sourceType === '*') {
    const types = [...new Set(from.map((r) => r.resourceType))];
    const found = await Promise.all(
      types.map((sourceType) => forward(sql, { ...spec, sourceType }, from, ctx)),
    );
    return found.flat();
  }
  const ids = from.filter((r) => r.resourceType === spec.sourceType).map((r) => r.id!);
  if (!ids.length) return [];
  const b = new Binds();
  const filters = [
    `ref.resource_type = ${b.add(spec.sourceType)}`,
    `ref.id = ANY(${b.add(ids)}::text[])`,
  ];
  if (spec.code !== '*') filters.push(`ref.code = ${b.add(spec.code)}`);
  if (spec.targetType) filters.push(`ref.target_type = ${b.add(spec.targetType)}`);
  const targets = spec.targetType ? [spec.targetType] : undefined;
  filters.push(accessConditionByType(b, 'c', ctx, 'read', targets));
  const rows = await sql.query<{ content: Resource }>(
    `SELECT DISTINCT ON (c.resource_type, c.id) c.content FROM idx_reference ref
     JOIN resource_current c ON c.resource_type = ref.target_type AND c.id = ref.target_id AND NOT c.deleted
     WHERE ${filters.join(' AND ')} LIMIT ${b.add(MAX_INCLUDED)}`,
    b.values,
  );
  return rows.map((row) => row.content);
}

/** What refers to the matches, held to the caller's read grant on the referring type. */
async function reverse(
  sql: Sql,
  spec: IncludeSpec,
  to: Resource[],
  ctx: RequestContext,
): Promise<Resource[]> {
  const found: Resource[] = [];
  for (const type of new Set(to.map((r) => r.resourceType))) {
    if (spec.targetType && spec.targetType !== type) continue;
    const ids = to.filter((r) => r.resourceType === type).map((r) => r.id!);
    if (spec.sourceType === 'AuditEvent') {
      found.push(...(await reverseAuditEvents(sql, spec, type, ids, ctx)));
      continue;
    }
    const b = new Binds();
    const filters = [
      `ref.resource_type = ${b.add(spec.sourceType)}`,
      `ref.target_type = ${b.add(type)}`,
      `ref.target_id = ANY(${b.add(ids)}::text[])`,
    ];
    if (spec.code !== '*') filters.push(`ref.code = ${b.add(spec.code)}`);
    filters.push(accessConditionByType(b, 'c', ctx, 'read', [spec.sourceType]));
    const rows = await sql.query<{ content: Resource }>(
      `SELECT DISTINCT ON (c.id) c.content FROM idx_reference ref
       JOIN resource_current c ON c.resource_type = ref.resource_type AND c.id = ref.id AND NOT c.deleted
       WHERE ${filters.join(' AND ')} LIMIT ${b.add(MAX_INCLUDED)}`,
      b.values,
    );
    found.push(...rows.map((row) => row.content));
  }
  return found;
}

/** `_revinclude=AuditEvent:...`: from audit_event, held to the caller's read grant on it. */
async function reverseAuditEvents(
  sql: Sql,
  spec: IncludeSpec,
  type: string,
  ids: string[],
  ctx: RequestContext,
): Promise<Resource[]> {
  const seen = visibility(ctx, 'AuditEvent', 'read');
  if (seen.kind === 'nothing') return [];
  const b = new Binds();
  const access = auditAccessCondition(b, seen);
  const rows = await sql.query<{ json: string }>(
    `${auditRevincludeSql(b, spec.code, type, ids, access)} LIMIT ${b.add(MAX_INCLUDED)}`,
    b.values,
  );
  return rows.map((row) => JSON.parse(row.json) as Resource);
}

/** _include and _revinclude, then one more round of the :iterate ones over what was added. */
async function includes(
  sql: Sql,
  query: SearchQuery,
  matches: Resource[],
  ctx: RequestContext,
): Promise<Resource[]> {
  const seen = new Set(matches.map((r) => `${r.resourceType}/${r.id}`));
  const included: Resource[] = [];
  const add = (resources: Resource[]) => {
    for (const resource of resources) {
      const key = `${resource.resourceType}/${resource.id}`;
      if (seen.has(key) || included.length >= MAX_INCLUDED) continue;
      seen.add(key);
      included.push(resource);
    }
  };
  const round = async (from: Resource[], iterateOnly: boolean) => {
    for (const spec of query.include)
      if (!iterateOnly || spec.iterate) add(await forward(sql, spec, from, ctx));
    for (const spec of query.revinclude)
      if (!iterateOnly || spec.iterate) add(await reverse(sql, spec, from, ctx));
  };
  if (!matches.length) return [];
  await round(matches, false);
  if (included.length) await round([...included], true);
  return included;
}

/**
 * Counting every match costs a scan of all of them, so the total is computed only when asked
 * for (`_total=accurate|estimate`, `_summary=count`). Otherwise it is given when it is free: a
 * first page that holds every match. `fewMatches`: see `page` (tests lower it to reach both of
 * its plans with a few resources).
 */
export async function runSearch(
  sql: Sql,
  query: SearchQuery,
  position: PagePosition | undefined,
  ctx: RequestContext,
  fewMatches = FEW_MATCHES,
): Promise<SearchResult> {
  const sight = sightOf(ctx, query.type);
  const counted =
    query.summary === 'count' || query.total === 'accurate' || query.total === 'estimate';
  const total = counted ? await countMatches(sql, query, sight) : undefined;
  if (query.summary === 'count' || query.count === 0) {
    return { matches: [], included: [], total, next: undefined, previous: undefined };
  }
  const found = await page(sql, query, position, sight, fewMatches);
  const complete = !position && !found.next && query.total !== 'none';
  return {
    ...found,
    included: await includes(sql, query, found.matches, ctx),
    total: total ?? (complete ? found.matches.length : undefined),
  };
}
