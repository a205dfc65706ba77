/**
 * AuditEvent read, vread, search and history, answered from `audit_event` (one row per event,
 * 008_audit_event.sql) rather than the generic resource and index tables. The Postgres store
 * hands every AuditEvent read to this one (so does the HealthLake store, through its local
 * Postgres store); writes never come here: the audit writer appends, nothing else does.
 */
import type { AuditEvent, Resource } from 'fhir/r4.js';
import type { Sql } from '../../db/database.js';
import { searchStatementName } from '../../db/statement-names.js';
import { FhirError, notFound } from '../../fhir/errors.js';
import type { PagePosition, SearchQuery } from '../../search/query.js';
import type { HistoryPage, HistoryQuery, RequestContext, SearchResult } from '../store.js';
import { accessConditionByType, reachGuard, requireSome } from './access-sql.js';
import { AUDIT_EVENT_SORTS, auditAccessCondition, auditCondition } from './audit-event-sql.js';
import { Binds, keysetCondition, type Ordered } from './search-sql.js';
import { asKey } from './search-page.js';

export const AUDIT_EVENT = 'AuditEvent';

interface EventRow {
  id: string;
  json: string;
  [key: `s${number}`]: unknown;
}

const parse = (json: string) => JSON.parse(json) as AuditEvent;

/** Included resources per search, at most, as for every type. */
const MAX_INCLUDED = 1000;

/** The references an event's reference parameter `code` holds (the columns' source). */
function referencesOf(event: AuditEvent, code: string): string[] {
  const who = (event.agent ?? []).flatMap((a) => a.who?.reference ?? []);
  const what = (event.entity ?? []).flatMap((e) => e.what?.reference ?? []);
  if (code === 'agent') return who;
  if (code === 'entity') return what;
  if (code === 'patient') return [...who, ...what].filter((ref) => ref.startsWith('Patient/'));
  throw new FhirError(400, 'not-supported', `AuditEvent search can't _include ${code}`);
}

export class AuditEventStore {
  constructor(private readonly sql: Sql) {}

  /** Outside the caller's grant is 404, as for every type. */
  async read(id: string, ctx: RequestContext): Promise<Resource> {
    const b = new Binds();
    const visible = auditAccessCondition(b, requireSome(ctx, AUDIT_EVENT, 'read'));
    const rows = await this.sql.query<{ json: string }>(
      `SELECT e.json FROM audit_event e WHERE e.id = ${b.add(id)} AND ${visible} LIMIT 1`,
      b.values,
    );
    if (!rows[0]) throw notFound(AUDIT_EVENT, id);
    return parse(rows[0].json);
  }

  /** An AuditEvent has one version, never another. */
  async vread(id: string, versionId: string, ctx: RequestContext): Promise<Resource> {
    const event = await this.read(id, ctx);
    if (versionId !== '1') {
      throw new FhirError(404, 'not-found', `${AUDIT_EVENT}/${id} has no version ${versionId}`);
    }
    return event;
  }

  /** The conditions and the caller's grant over `audit_event e`. */
  private where(b: Binds, query: SearchQuery, ctx: RequestContext): string {
    const seen = requireSome(ctx, AUDIT_EVENT, 'search');
    const guard = reachGuard(ctx);
    const parts = query.conditions.map((condition) => auditCondition(b, condition, guard));
    parts.push(auditAccessCondition(b, seen));
    return parts.join(' AND ');
  }

  async search(
    query: SearchQuery,
    ctx: RequestContext,
    position?: PagePosition,
  ): Promise<SearchResult> {
    if (query.revinclude.length) {
      throw new FhirError(400, 'not-supported', 'AuditEvent search does not support _revinclude');
    }
    if (query.include.some((spec) => spec.iterate)) {
      throw new FhirError(400, 'not-supported', 'AuditEvent search does not support :iterate');
    }
    const counted =
      query.summary === 'count' || query.total === 'accurate' || query.total === 'estimate';
    let total: number | undefined;
    if (counted) {
      const b = new Binds();
      const text = `SELECT count(*)::int AS total FROM audit_event e WHERE ${this.where(b, query, ctx)}`;
      const rows = await this.sql.query<{ total: number }>(
        text,
        b.values,
        searchStatementName(text),
      );
      total = rows[0]?.total ?? 0;
    }
    if (query.summary === 'count' || query.count === 0) {
      return { matches: [], included: [], total, next: undefined, previous: undefined };
    }
    const found = await this.page(query, ctx, position);
    const complete = !position && !found.next && query.total !== 'none';
    const included = query.include.length ? await this.included(query, found.matches, ctx) : [];
    return { ...found, included, total: total ?? (complete ? found.matches.length : undefined) };
  }

  /**
   * What the matches name (`_include=AuditEvent:patient|agent|entity|*`), each held to the
   * caller's read grant on its own type, as every include is.
   */
  private async included(
    query: SearchQuery,
    matches: Resource[],
    ctx: RequestContext,
  ): Promise<Resource[]> {
    const wanted = new Map<string, { type: string; id: string }>();
    for (const spec of query.include) {
      const codes = spec.code === '*' ? ['patient', 'agent', 'entity'] : [spec.code];
      for (const event of matches as AuditEvent[]) {
        for (const reference of codes.flatMap((code) => referencesOf(event, code))) {
          const [, type, id] = /^([A-Za-z]+)\/([A-Za-z0-9.-]{1,64})$/.exec(reference) ?? [];
          if (!type || !id || (spec.targetType && spec.targetType !== type)) continue;
          wanted.set(reference, { type, id });
        }
      }
    }
    if (!wanted.size) return [];
    const targets = [...wanted.values()];
    const b = new Binds();
    const types = b.add(targets.map((target) => target.type));
    const ids = b.add(targets.map((target) => target.id));
    const reached = new Set(targets.map((target) => target.type));
    const allowed = accessConditionByType(b, 'c', ctx, 'read', reached);
    const rows = await this.sql.query<{ content: Resource }>(
      `SELECT c.content FROM resource_current c
       JOIN unnest(${types}::text[], ${ids}::text[]) w (type, id)
         ON c.resource_type = w.type AND c.id = w.id
       WHERE NOT c.deleted AND ${allowed} LIMIT ${b.add(MAX_INCLUDED)}`,
      b.values,
    );
    return rows.map((row) => row.content);
  }

  /** One page in keyset order (the sort keys, then id); backwards runs reversed and turns. */
  private async page(query: SearchQuery, ctx: RequestContext, position?: PagePosition) {
    const b = new Binds();
    const where = this.where(b, query, ctx);
    const columns = query.sort.map((key) => {
      const column = AUDIT_EVENT_SORTS[key.code];
      if (!column) {
        throw new FhirError(400, 'not-supported', `AuditEvent search can't sort by ${key.code}`);
      }
      return { ...column, descending: key.descending };
    });
    const backwards = position?.direction === 'previous';
    const id = { column: 'e.id', sqlType: 'text' as const, descending: false };
    const keys: Ordered[] = [...columns, id].map((column) => ({
      column: column.column,
      sqlType: column.sqlType,
      descending: column.descending !== backwards,
      nullsLast: !backwards,
    }));
    const keyset = position
      ? ` AND ${keysetCondition(b, keys, [...position.keys, position.id])}`
      : '';
    const order = keys.map((key) => `${key.column} ${key.descending ? 'DESC' : 'ASC'}`).join(', ');
    const selected = columns.map((column, i) => `, ${column.column} AS s${i}`).join('');
    const text = `SELECT e.id, e.json${selected} FROM audit_event e WHERE ${where}${keyset}
       ORDER BY ${order} LIMIT ${b.add(query.count + 1)}`;
    const rows = await this.sql.query<EventRow>(text, b.values, searchStatementName(text));
    const more = rows.length > query.count;
    const kept = rows.slice(0, query.count);
    if (backwards) kept.reverse();
    const positionOf = (row: EventRow | undefined, direction: PagePosition['direction']) =>
      row && { keys: columns.map((_, i) => asKey(row[`s${i}`])), id: row.id, direction };
    return {
      matches: kept.map((row) => parse(row.json)),
      next: (backwards ? Boolean(position) : more)
        ? positionOf(kept[kept.length - 1], 'next')
        : undefined,
      previous: (backwards ? more : Boolean(position))
        ? positionOf(kept[0], 'previous')
        : undefined,
    };
  }

  /**
   * Newest first, by the order events were appended. Each event is its one version, created:
   * type history lists the events the caller may search, instance history one event.
   */
  async history(query: HistoryQuery, ctx: RequestContext): Promise<HistoryPage> {
    const b = new Binds();
    const where = [
      auditAccessCondition(b, requireSome(ctx, AUDIT_EVENT, query.id ? 'read' : 'search')),
    ];
    if (query.id) where.push(`e.id = ${b.add(query.id)}`);
    if (query.since) where.push(`e.last_updated >= ${b.add(query.since)}::timestamptz`);
    const totalRows = await this.sql.query<{ total: number }>(
      `SELECT count(*)::int AS total FROM audit_event e WHERE ${where.join(' AND ')}`,
      b.values,
    );
    const total = totalRows[0]?.total ?? 0;
    if (query.id && total === 0) throw notFound(AUDIT_EVENT, query.id);
    if (query.after) where.push(`e.seq < ${b.add(query.after.seq)}::bigint`);
    const rows = await this.sql.query<{ seq: string; json: string }>(
      `SELECT e.seq::text AS seq, e.json FROM audit_event e WHERE ${where.join(' AND ')}
       ORDER BY e.seq DESC LIMIT ${b.add(query.count + 1)}`,
      b.values,
    );
    const page = rows.slice(0, query.count);
    const last = page[page.length - 1];
    return {
      versions: page.map((row) => {
        const event = parse(row.json);
        return {
          resourceType: AUDIT_EVENT,
          id: event.id!,
          versionId: '1',
          lastUpdated: event.meta?.lastUpdated ?? event.recorded,
          method: 'POST' as const,
          resource: event,
        };
      }),
      total,
      next: rows.length > query.count && last ? { seq: last.seq } : undefined,
    };
  }
}
