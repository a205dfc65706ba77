import type { Database, Sql } from '../src/db/database.js';
import { noIndexer } from '../src/store/postgres/indexer.js';
import { PostgresStore } from '../src/store/postgres/postgres-store.js';
import { parseSearch } from '../src/search/parse.js';

export interface Statement {
  /** `count` (the _total query) or `page` (the matches). */
  role: 'count' | 'page';
  text: string;
  params: unknown[];
}

export interface ExplainedStatement extends Statement {
  plan: string;
  /** Every index the plan scans (Index Scan, Index Only Scan or Bitmap Index Scan). */
  indexScans: string[];
  /** Other access paths worth knowing about: sequential scans, by table. */
  seqScans: string[];
  /** The plan node with the most time of its own (total time minus its children's). */
  dominant: { node: string; ms: number } | undefined;
  executionMs: number | undefined;
}

/**
 * The SQL a search really issues: the query is run once through a PostgresStore whose Sql
 * records each statement, so what is explained is byte for byte what search.ts sends (the
 * count and the page query), not a copy that could drift from it.
 */
export async function searchStatements(
  db: Database,
  type: string,
  search: string,
  baseUrl: string,
): Promise<Statement[]> {
  const recorded: Statement[] = [];
  const recorder: Sql = {
    query: <R>(text: string, params: unknown[] = []) => {
      recorded.push({ role: /^\s*SELECT count\(/i.test(text) ? 'count' : 'page', text, params });
      return db.query<R>(text, params);
    },
    exec: (script) => db.exec(script),
  };
  const store = new PostgresStore(db, recorder, false, noIndexer);
  const query = parseSearch(type, new URLSearchParams(search), { baseUrl, strict: true });
  await store.search(query, { requestId: 'bench-explain', access: 'unrestricted' });
  return recorded;
}

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Actual Total Time'?: number;
  'Actual Loops'?: number;
  Plans?: PlanNode[];
}

const describe = (node: PlanNode) =>
  [
    node['Node Type'],
    node['Index Name'] && `using ${node['Index Name']}`,
    node['Relation Name'] && `on ${node['Relation Name']}`,
  ]
    .filter(Boolean)
    .join(' ');

/** Time a node spent itself; loops multiply, as EXPLAIN reports per-loop averages. */
function ownTimes(node: PlanNode, into: { node: string; ms: number }[]): number {
  const total = (node['Actual Total Time'] ?? 0) * (node['Actual Loops'] ?? 1);
  const children = (node.Plans ?? []).reduce((sum, child) => sum + ownTimes(child, into), 0);
  into.push({ node: describe(node), ms: Math.max(0, total - children) });
  return total;
}

const INDEX_SCAN =
  /(?:Index Scan|Index Only Scan|Bitmap Index Scan)(?: Backward)? (?:using|on) (\w+)/g;
const SEQ_SCAN = /Seq Scan on (\w+)/g;

export async function explain(db: Database, statement: Statement): Promise<ExplainedStatement> {
  const textRows = await db.query<{ 'QUERY PLAN': string }>(
    `EXPLAIN (ANALYZE, BUFFERS) ${statement.text}`,
    statement.params,
  );
  const plan = textRows.map((row) => row['QUERY PLAN']).join('\n');
  const jsonRows = await db.query<{ 'QUERY PLAN': unknown }>(
    `EXPLAIN (ANALYZE, FORMAT JSON) ${statement.text}`,
    statement.params,
  );
  const raw = jsonRows[0]?.['QUERY PLAN'];
  const parsed = (typeof raw === 'string' ? JSON.parse(raw) : raw) as {
    Plan: PlanNode;
    'Execution Time'?: number;
  }[];
  const times: { node: string; ms: number }[] = [];
  if (parsed[0]) ownTimes(parsed[0].Plan, times);
  times.sort((a, b) => b.ms - a.ms);
  const unique = (matches: IterableIterator<RegExpMatchArray>) => [
    ...new Set([...matches].map((m) => m[1]!)),
  ];
  return {
    ...statement,
    plan,
    indexScans: unique(plan.matchAll(INDEX_SCAN)),
    seqScans: unique(plan.matchAll(SEQ_SCAN)),
    dominant: times[0],
    executionMs: parsed[0]?.['Execution Time'],
  };
}

/** The statement with its bind values written in, for reading (not for running). */
export function inlined(statement: Statement): string {
  return statement.text.replace(/\$(\d+)\b/g, (_, n: string) => {
    const value = statement.params[Number(n) - 1];
    return typeof value === 'number' ? String(value) : `'${String(value).replace(/'/g, "''")}'`;
  });
}
