/**
 * One page of a search's matches, as one statement: see `pageStatement`.
 */
import type { Resource } from 'fhir/r4.js';
import type { Condition, PagePosition, SearchQuery } from '../../search/query.js';
import type { Sql } from '../../db/database.js';
import { searchStatementName } from '../../db/statement-names.js';
import { accessCondition, type Visibility } from './access-sql.js';
import {
  Binds,
  keysetCondition,
  matchSet,
  probeConditions,
  sortColumn,
  whereClause,
  type Guard,
  type Ordered,
  type SortColumn,
} from './search-sql.js';

/** What one caller may see: of the searched type (`seen`) and of the types it reaches (`guard`). */
export interface Sight {
  seen: Visibility;
  guard: Guard | undefined;
}

/**
 * The query's conditions and the caller's grant, over `resource_current r`; `named` conditions
 * are read from the CTEs of those names instead of being written out again.
 */
export function matching(
  b: Binds,
  query: SearchQuery,
  sight: Sight,
  satisfied?: Condition,
  named?: ReadonlyMap<Condition, string>,
): string {
  const { seen, guard } = sight;
  const where = whereClause(b, query, satisfied, guard, named);
  return seen.kind === 'everything'
    ? where
    : `${where} AND ${accessCondition(b, 'r', query.type, seen)}`;
}

/**
 * Up to this many matches of one condition, a page is taken from those matches in order;
 * past it, Postgres walks the resources in order until it has a page. See `pageStatement`.
 */
export const FEW_MATCHES = 2000;

/** An ORDER BY term no index can provide, so the planner can't choose to walk an index. */
const unindexed = (key: Ordered) =>
  key.sqlType === 'text'
    ? `(${key.column} || '')`
    : key.sqlType === 'numeric'
      ? `(${key.column} + 0)`
      : `(${key.column} + interval '0 s')`;

export interface PageStatement {
  text: string;
  values: unknown[];
  columns: SortColumn[];
  /** How many conditions the statement counts (0: it always walks). */
  probes: number;
}

/**
 * One page of matches in keyset order, as one statement. Paging backwards runs the same query
 * in reverse order from the position, then turns the rows round.
 *
 * For a page in id order Postgres likes to walk `resource_current` by id until enough rows
 * match: quick when many do, slow when few do, and its estimate can't tell a rare name prefix
 * from a common one (a rare one walked all 100 000 Patients: 400 ms). So the statement first
 * lists up to FEW_MATCHES + 1 ids matching each condition that lists values (`probe0`, ...:
 * index-only scans, cut off at the bound). The one with the fewest (the first of equals), if
 * it has no more than FEW_MATCHES, is taken: its ids sorted and looked up in that order until
 * there is a page (by a sort key no index provides, so the walk can't be chosen). Only when
 * every condition has more does the walk run, and then it finds a page quickly. Counting each
 * condition, not only the first, matters when the first is common and a later one rare
 * (`gender=male&name=<rare>`): the rare one still spares the walk.
 *
 * All branches are in the statement, gated on `choice`; one executes. Each condition's SQL is
 * written once, as a CTE (`m0`, ...) that the probe, the gates' other branches and the walk
 * read: NOT MATERIALIZED, so Postgres plans it inline in each place as if written there.
 */
export function pageStatement(
  query: SearchQuery,
  position: PagePosition | undefined,
  sight: Sight,
  fewMatches: number,
): PageStatement {
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
  const probes = probeConditions(query);
  if (!probes.length) {
    const text = select(
      { tables: 'resource_current r', columns: '' },
      matching(b, query, sight),
      keysOn('m.id'),
      (key) => key.column,
      undefined,
    );
    return { text, values: b.values, columns, probes: 0 };
  }
  const named = new Map(probes.map((condition, i) => [condition, `m${i}`]));
  const few = b.add(fewMatches);
  const ctes = [
    ...probes.map(
      (condition, i) =>
        `m${i} (id) AS NOT MATERIALIZED (${matchSet(b, query.type, condition, sight.guard)})`,
    ),
    ...probes.map((_, i) => `probe${i} AS MATERIALIZED (SELECT id FROM m${i} LIMIT ${few} + 1)`),
  ];
  // Which branch runs: the index of the condition with the fewest matches, or -1 to walk.
  const counts = probes.map((_, i) => `(SELECT count(*) FROM probe${i})`);
  const least = `least(${counts.map((_, i) => `c${i}`).join(', ')})`;
  ctes.push(`choice AS MATERIALIZED (SELECT CASE WHEN ${least} > ${few} THEN -1
       ${counts.map((_, i) => `WHEN c${i} = ${least} THEN ${i}`).join(' ')} END AS pick
     FROM (SELECT ${counts.map((count, i) => `${count} AS c${i}`).join(', ')}) c)`);
  const gate = (pick: number) => `(SELECT pick FROM choice) = ${pick}`;
  const taken = probes.map((condition, i) => {
    // The probed ids, distinct and in page order; `k` is the id as a term no index gives.
    const sorted = `(SELECT DISTINCT id, id || '' AS k FROM probe${i} ORDER BY k ${backwards ? 'DESC' : 'ASC'}) p
       JOIN resource_current r ON r.id = p.id`;
    return select(
      { tables: sorted, columns: 'p.k, ' },
      matching(b, query, sight, condition, named),
      keysOn('m.k'),
      (key) => (key.column === 'm.k' ? key.column : unindexed(key)),
      gate(i),
    );
  });
  const walk = select(
    { tables: 'resource_current r', columns: '' },
    matching(b, query, sight, undefined, named),
    keysOn('m.id'),
    (key) => key.column,
    gate(-1),
  );
  const text = `WITH ${ctes.join(',\n     ')}
     ${[...taken, walk].map((branch) => `(${branch})`).join('\n     UNION ALL\n     ')}`;
  return { text, values: b.values, columns, probes: probes.length };
}

interface Row {
  id: string;
  content: Resource;
  [key: `s${number}`]: unknown;
}

/** A sort column's value as the paging cursor keeps it. */
export const asKey = (value: unknown): string | null =>
  value === null || value === undefined
    ? null
    : value instanceof Date
      ? value.toISOString()
      : String(value);

/** Runs `pageStatement`, prepared under a name of its shape (db/statement-names.ts). */
export async function page(
  sql: Sql,
  query: SearchQuery,
  position: PagePosition | undefined,
  sight: Sight,
  fewMatches: number,
) {
  const { text, values, columns } = pageStatement(query, position, sight, fewMatches);
  const rows = await sql.query<Row>(text, values, searchStatementName(text));
  const backwards = position?.direction === 'previous';
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
