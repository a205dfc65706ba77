import type { Resource } from 'fhir/r4.js';
import type {
  HistoryPage,
  HistoryQuery,
  RequestContext,
  StoredVersion,
  WriteMethod,
} from '../store.js';
import { notFound } from '../../fhir/errors.js';
import type { Sql } from '../../db/database.js';
import { accessCondition, accessConditionByType, requireSome } from './access-sql.js';
import { Binds } from './search-sql.js';

interface HistoryRow {
  seq: string;
  resource_type: string;
  id: string;
  version_id: number;
  last_updated: Date | string;
  method: WriteMethod;
  content: Resource | null;
}

function toVersion(row: HistoryRow): StoredVersion {
  return {
    resourceType: row.resource_type,
    id: row.id,
    versionId: String(row.version_id),
    lastUpdated: new Date(row.last_updated).toISOString(),
    method: row.method,
    resource: row.content ?? undefined,
  };
}

/**
 * History, newest first. Under a restriction, a resource's versions are listed when the
 * resource as it is now is inside the grant (instance history: read; type and system history:
 * search and read of each type), so a compartment's history never shows another patient's
 * records. `visibleNow` tells an instance history with nothing to list (404) from one the caller
 * may see.
 */
export async function listHistory(
  sql: Sql,
  query: HistoryQuery,
  ctx: RequestContext,
  visibleNow: (type: string, id: string) => Promise<boolean>,
): Promise<HistoryPage> {
  const { type, id } = query;
  const b = new Binds();
  const where: string[] = [];
  // AuditEvents record accesses, this one included: listing them with the changes would grow
  // system history on every read of it. They have their own, AuditEvent/_history.
  if (type) where.push(`h.resource_type = ${b.add(type)}`);
  else {
    where.push(`h.resource_type <> 'AuditEvent'`);
    if (query.excludeTypes?.length)
      where.push(`h.resource_type <> ALL(${b.add(query.excludeTypes)}::text[])`);
  }
  if (id) where.push(`h.id = ${b.add(id)}`);
  if (query.since) where.push(`h.last_updated >= ${b.add(query.since)}::timestamptz`);
  const restricted = ctx.access !== 'unrestricted';
  if (restricted) {
    const visible = type
      ? accessCondition(b, 'r', type, requireSome(ctx, type, id ? 'read' : 'search'))
      : // System history is a search of every type (SMART v2 puts it under `s`, not `r`).
        accessConditionByType(b, 'r', ctx, 'search');
    where.push(visible);
  }
  const from = restricted
    ? `resource_history h JOIN resource_current r
         ON r.resource_type = h.resource_type AND r.id = h.id`
    : 'resource_history h';
  const filter = where.length ? `WHERE ${where.join(' AND ')}` : '';
  const totalRows = await sql.query<{ total: number }>(
    `SELECT count(*)::int AS total FROM ${from} ${filter}`,
    b.values,
  );
  const paged = [...where];
  if (query.after) paged.push(`h.seq < ${b.add(query.after.seq)}::bigint`);
  const rows = await sql.query<HistoryRow>(
    `SELECT h.seq::text AS seq, h.resource_type, h.id, h.version_id, h.last_updated, h.method,
            h.content
     FROM ${from} ${paged.length ? `WHERE ${paged.join(' AND ')}` : ''}
     ORDER BY h.seq DESC LIMIT ${b.add(query.count + 1)}`,
    b.values,
  );
  const total = totalRows[0]?.total ?? 0;
  if (type && id && total === 0 && !(await visibleNow(type, id))) throw notFound(type, id);
  const page = rows.slice(0, query.count);
  const last = page[page.length - 1];
  return {
    versions: page.map(toVersion),
    total,
    next: rows.length > query.count && last ? { seq: last.seq } : undefined,
  };
}
