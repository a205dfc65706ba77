import type { Resource } from 'fhir/r4.js';
import type { IncludeSpec, PagePosition, SearchQuery } from '../../search/query.js';
import type { RequestContext, SearchResult } from '../store.js';
import { accessConditionByType, reachGuard, requireSome, visibility } from './access-sql.js';
import { auditAccessCondition, auditRevincludeSql } from './audit-event-sql.js';
import type { Sql } from '../../db/database.js';
import { searchStatementName } from '../../db/statement-names.js';
import { Binds } from './search-sql.js';
import { FEW_MATCHES, matching, page, type Sight } from './search-page.js';

export { FEW_MATCHES, type Sight };

/** Included resources per search, at most: a guard against `_include=*` fan-out. */
const MAX_INCLUDED = 1000;

export function sightOf(ctx: RequestContext, type: string): Sight {
  return { seen: requireSome(ctx, type, 'search'), guard: reachGuard(ctx) };
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
  const text = `SELECT r.content FROM resource_current r WHERE ${where} LIMIT ${b.add(limit)}`;
  const rows = await sql.query<{ content: Resource }>(text, b.values, searchStatementName(text));
  return rows.map((row) => row.content);
}

async function countMatches(sql: Sql, query: SearchQuery, sight: Sight): Promise<number> {
  const b = new Binds();
  const text = `SELECT count(*)::int AS total FROM resource_current r WHERE ${matching(b, query, sight)}`;
  const rows = await sql.query<{ total: number }>(text, b.values, searchStatementName(text));
  return rows[0]?.total ?? 0;
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
