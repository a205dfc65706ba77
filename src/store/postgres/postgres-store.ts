import { randomBytes, randomUUID } from 'node:crypto';
import type { AuditEvent, Resource } from 'fhir/r4.js';
import type { Access } from '../../auth/policy.js';
import { appendAudit } from '../../audit/writer.js';
import { FhirError, gone, notFound } from '../../fhir/errors.js';
import type { PagePosition, SearchQuery } from '../../search/query.js';
import type {
  FhirStore,
  HistoryPage,
  HistoryQuery,
  RequestContext,
  SearchResult,
  StoredVersion,
  WriteMethod,
} from '../store.js';
import type { Database, Sql } from './database.js';
import { noIndexer, type ResourceIndexer } from './indexer.js';
import { findMatches, runSearch } from './search.js';
import {
  accessCondition,
  accessConditionByType,
  requireSome,
  type Visibility,
} from './access-sql.js';
import { Binds } from './search-sql.js';

/** How often a write re-reads and retries after losing a race without If-Match. */
const WRITE_ATTEMPTS = 5;

interface CurrentRow {
  version_id: number;
  deleted: boolean;
  content: Resource | null;
  /** Whether the caller's grant covers it (always true without a restriction). */
  visible: boolean;
}

const EVERYTHING: Visibility = { kind: 'everything' };

const outside = (type: string, id: string, access: Access) =>
  new FhirError(
    403,
    'forbidden',
    `${type}/${id} is outside what the token may ${access} (its patient compartment or scope filter)`,
  );

interface HistoryRow {
  seq: string;
  resource_type: string;
  id: string;
  version_id: number;
  last_updated: Date | string;
  method: WriteMethod;
  content: Resource | null;
}

/** Server-owned meta first, in the order FHIR examples use; the client's meta is kept. */
function stamp(resource: Resource, id: string, versionId: number, lastUpdated: string): Resource {
  const { resourceType, id: _clientId, meta, ...rest } = resource;
  return {
    resourceType,
    id,
    meta: { ...meta, versionId: String(versionId), lastUpdated },
    ...rest,
  } as Resource;
}

/**
 * Writes the next version of one resource: current row and history row in one statement. The
 * current row moves only from `version - 1`, so of two racing writers exactly one succeeds;
 * the loser gets false and decides whether to retry or answer 412.
 */
async function writeVersion(
  sql: Sql,
  type: string,
  id: string,
  version: number,
  method: WriteMethod,
  resource: Resource | null,
  lastUpdated: string,
): Promise<boolean> {
  const rows = await sql.query(
    `WITH cur AS (
       INSERT INTO resource_current AS c (resource_type, id, version_id, last_updated, deleted, content)
       VALUES ($1, $2, $3, $4, $5, $6::json)
       ON CONFLICT (resource_type, id) DO UPDATE
         SET version_id = EXCLUDED.version_id, last_updated = EXCLUDED.last_updated,
             deleted = EXCLUDED.deleted, content = EXCLUDED.content
         WHERE c.version_id = EXCLUDED.version_id - 1
       RETURNING 1
     )
     INSERT INTO resource_history (resource_type, id, version_id, last_updated, method, content)
     SELECT $1, $2, $3, $4, $7, $6::json FROM cur
     RETURNING 1`,
    [
      type,
      id,
      version,
      lastUpdated,
      resource === null,
      resource && JSON.stringify(resource),
      method,
    ],
  );
  return rows.length === 1;
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
 * Domain rules that follow a write in its own transaction (the appointment ledger, say): called
 * after the resource is stored and indexed, with the version it replaced. A hook that throws
 * undoes the write. `store` runs in the same transaction, unrestricted: hooks act for the
 * server, not the caller.
 */
export interface WriteHook {
  /**
   * Before a version is stamped and stored (not for deletions): returns the resource to store
   * instead, e.g. with server-assigned identifiers. `previous` is the version it replaces.
   */
  beforeWrite?(
    tx: { sql: Sql; store: FhirStore },
    type: string,
    id: string,
    resource: Resource,
    previous: Resource | undefined,
  ): Promise<Resource>;
  afterWrite(
    tx: { sql: Sql; store: FhirStore },
    type: string,
    id: string,
    resource: Resource | undefined,
    previous: Resource | undefined,
  ): Promise<void>;
}

export class PostgresStore implements FhirStore {
  constructor(
    /** The database itself; the workflow tables share it when the clinical store is Postgres. */
    readonly database: Database,
    private readonly sql: Sql = database,
    private readonly inTransaction = false,
    private readonly indexer: ResourceIndexer = noIndexer,
    /** Shared with the stores of transactions: secrets are immutable once made. */
    private readonly secrets = new Map<string, Promise<Buffer>>(),
    private readonly hooks: readonly WriteHook[] = [],
  ) {}

  private get db(): Database {
    return this.database;
  }

  /** A store whose reads and writes run on `sql`, a transaction someone else opened and ends. */
  bind(sql: Sql): PostgresStore {
    return new PostgresStore(this.db, sql, true, this.indexer, this.secrets, this.hooks);
  }

  private async afterWrite(
    sql: Sql,
    type: string,
    id: string,
    resource: Resource | undefined,
    previous: Resource | undefined,
  ) {
    if (!this.hooks.length) return;
    const store = new PostgresStore(this.db, sql, true, this.indexer, this.secrets, this.hooks);
    for (const hook of this.hooks)
      await hook.afterWrite({ sql, store }, type, id, resource, previous);
  }

  private async beforeWrite(
    sql: Sql,
    type: string,
    id: string,
    resource: Resource,
    previous: Resource | undefined,
  ): Promise<Resource> {
    let prepared = resource;
    for (const hook of this.hooks) {
      if (!hook.beforeWrite) continue;
      const store = new PostgresStore(this.db, sql, true, this.indexer, this.secrets, this.hooks);
      prepared = await hook.beforeWrite({ sql, store }, type, id, prepared, previous);
    }
    return prepared;
  }

  private write<T>(work: (sql: Sql) => Promise<T>): Promise<T> {
    return this.inTransaction ? work(this.sql) : this.db.transaction(work);
  }

  private async current(
    sql: Sql,
    type: string,
    id: string,
    seen: Visibility = EVERYTHING,
  ): Promise<CurrentRow | undefined> {
    const b = new Binds();
    const visible = accessCondition(b, 'r', type, seen);
    const rows = await sql.query<CurrentRow>(
      `SELECT r.version_id, r.deleted, r.content, ${visible} AS visible FROM resource_current r
       WHERE r.resource_type = ${b.add(type)} AND r.id = ${b.add(id)}`,
      b.values,
    );
    return rows[0];
  }

  /**
   * After a write, in its transaction: the resource as now stored (and indexed) must still be
   * inside the caller's grant, or the write is refused and rolls back. This is what stops a
   * patient-scoped token from writing a resource into another patient's compartment.
   */
  private async assertInside(
    sql: Sql,
    type: string,
    id: string,
    ctx: RequestContext,
    access: Access,
  ) {
    const seen = requireSome(ctx, type, access);
    if (seen.kind === 'everything') return;
    const row = await this.current(sql, type, id, seen);
    if (!row?.visible) throw outside(type, id, access);
  }

  private async insertFirst(
    sql: Sql,
    resource: Resource,
    id: string,
    method: WriteMethod,
    ctx: RequestContext,
  ) {
    const prepared = await this.beforeWrite(sql, resource.resourceType, id, resource, undefined);
    const stored = stamp(prepared, id, 1, new Date().toISOString());
    if (
      !(await writeVersion(
        sql,
        resource.resourceType,
        id,
        1,
        method,
        stored,
        stored.meta!.lastUpdated!,
      ))
    ) {
      throw new FhirError(409, 'conflict', `${resource.resourceType}/${id} already exists`);
    }
    await this.indexer.index(sql, resource.resourceType, id, stored);
    await this.afterWrite(sql, resource.resourceType, id, stored, undefined);
    await this.assertInside(sql, resource.resourceType, id, ctx, 'create');
    return stored;
  }

  create(resource: Resource, ctx: RequestContext, id: string = randomUUID()): Promise<Resource> {
    requireSome(ctx, resource.resourceType, 'create');
    return this.write((sql) => this.insertFirst(sql, resource, id, 'POST', ctx));
  }

  /**
   * Finds the current matches of conditional criteria (at most two: enough to tell none, one
   * and many) under an advisory lock on the criteria, so two racing conditional writes with
   * the same criteria run one after the other instead of both seeing no match.
   */
  private async lockedMatches(
    sql: Sql,
    criteria: SearchQuery,
    ctx: RequestContext,
  ): Promise<Resource[]> {
    const key = `${criteria.type}?${criteria.applied
      .map(([k, v]) => `${k}=${v}`)
      .sort()
      .join('&')}`;
    await sql.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [key]);
    const found = await findMatches(sql, criteria, 2, requireSome(ctx, criteria.type, 'search'));
    if (found.length > 1) {
      throw new FhirError(412, 'duplicate', `The criteria match more than one ${criteria.type}`);
    }
    return found;
  }

  conditionalCreate(resource: Resource, criteria: SearchQuery, ctx: RequestContext) {
    return this.write(async (sql) => {
      const [existing] = await this.lockedMatches(sql, criteria, ctx);
      if (existing) return { resource: existing, created: false };
      return {
        resource: await this.insertFirst(sql, resource, randomUUID(), 'POST', ctx),
        created: true,
      };
    });
  }

  conditionalUpdate(resource: Resource, criteria: SearchQuery, ctx: RequestContext) {
    return this.write(async (sql) => {
      const [existing] = await this.lockedMatches(sql, criteria, ctx);
      if (existing && resource.id !== undefined && resource.id !== existing.id) {
        throw new FhirError(
          400,
          'invalid',
          `The criteria match ${existing.resourceType}/${existing.id}, not the body's id ${resource.id}`,
        );
      }
      if (!existing && resource.id === undefined) {
        return {
          resource: await this.insertFirst(sql, resource, randomUUID(), 'POST', ctx),
          created: true,
        };
      }
      const id = existing?.id ?? resource.id;
      return this.updateIn(sql, { ...resource, id } as Resource, ctx);
    });
  }

  conditionalDelete(criteria: SearchQuery, ctx: RequestContext): Promise<Resource> {
    return this.write(async (sql) => {
      const [existing] = await this.lockedMatches(sql, criteria, ctx);
      if (!existing)
        throw new FhirError(404, 'not-found', `No ${criteria.type} matches the criteria`);
      await this.deleteIn(sql, criteria.type, existing.id!, ctx);
      return existing;
    });
  }

  search(query: SearchQuery, ctx: RequestContext, position?: PagePosition): Promise<SearchResult> {
    return runSearch(this.sql, query, position, ctx);
  }

  /**
   * Outside the caller's grant is 404, as if it weren't there: a 403 would tell a
   * patient-scoped token that another patient's resource exists. Under a compartment a deleted
   * resource is 404 too, since what it belonged to went with it.
   */
  async read(type: string, id: string, ctx: RequestContext): Promise<Resource> {
    const row = await this.current(this.sql, type, id, requireSome(ctx, type, 'read'));
    if (!row?.visible) throw notFound(type, id);
    if (row.deleted || !row.content) throw gone(type, id);
    return row.content;
  }

  /** Old versions are visible when the resource, as it is now, is inside the grant. */
  async vread(type: string, id: string, versionId: string, ctx: RequestContext) {
    if (!/^[1-9]\d{0,8}$/.test(versionId)) {
      throw new FhirError(404, 'not-found', `${type}/${id} has no version ${versionId}`);
    }
    const b = new Binds();
    const visible = accessCondition(b, 'r', type, requireSome(ctx, type, 'read'));
    const rows = await this.sql.query<{ content: Resource | null }>(
      `SELECT h.content FROM resource_history h
       JOIN resource_current r ON r.resource_type = h.resource_type AND r.id = h.id
       WHERE h.resource_type = ${b.add(type)} AND h.id = ${b.add(id)}
         AND h.version_id = ${b.add(Number(versionId))} AND ${visible}`,
      b.values,
    );
    if (!rows[0])
      throw new FhirError(404, 'not-found', `${type}/${id} has no version ${versionId}`);
    if (!rows[0].content) {
      throw new FhirError(410, 'deleted', `${type}/${id} version ${versionId} is a deletion`);
    }
    return rows[0].content;
  }

  update(resource: Resource, ctx: RequestContext, ifMatch?: string) {
    requireSome(ctx, resource.resourceType, 'update');
    return this.write((sql) => this.updateIn(sql, resource, ctx, ifMatch));
  }

  /** The version replaced must be inside the caller's grant, and so must the new one. */
  private async updateIn(sql: Sql, resource: Resource, ctx: RequestContext, ifMatch?: string) {
    const type = resource.resourceType;
    const id = resource.id!;
    const seen = requireSome(ctx, type, 'update');
    for (let attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
      const row = await this.current(sql, type, id, seen);
      if (row && !row.deleted && !row.visible) throw outside(type, id, 'update');
      // A deleted resource's compartment can't be checked (its index rows went with it), and
      // recreating it would make its old versions readable under the new one's compartment:
      // only an unrestricted caller may bring a deleted id back.
      if (row?.deleted && seen.kind === 'restricted') {
        throw new FhirError(
          403,
          'forbidden',
          `${type}/${id} was deleted; recreating it needs access to every patient's ${type}`,
        );
      }
      if (ifMatch !== undefined && (!row || String(row.version_id) !== ifMatch)) {
        throw new FhirError(
          412,
          'conflict',
          row
            ? `If-Match version ${ifMatch} is not the current version of ${type}/${id}`
            : `${type}/${id} does not exist, so If-Match can't match`,
        );
      }
      const version = (row?.version_id ?? 0) + 1;
      const prepared = await this.beforeWrite(sql, type, id, resource, row?.content ?? undefined);
      const stored = stamp(prepared, id, version, new Date().toISOString());
      const method = 'PUT';
      if (await writeVersion(sql, type, id, version, method, stored, stored.meta!.lastUpdated!)) {
        await this.indexer.index(sql, type, id, stored);
        await this.afterWrite(sql, type, id, stored, row?.content ?? undefined);
        await this.assertInside(sql, type, id, ctx, 'update');
        return { resource: stored, created: !row || row.deleted };
      }
      // Another writer moved the version first: with If-Match that is a lost update (412 on
      // the next pass), without it we simply write on top of theirs.
    }
    throw new FhirError(409, 'conflict', `${type}/${id} is being updated concurrently; retry`);
  }

  delete(type: string, id: string, ctx: RequestContext): Promise<Resource | undefined> {
    requireSome(ctx, type, 'delete');
    return this.write((sql) => this.deleteIn(sql, type, id, ctx));
  }

  /** The version deleted, or undefined when it already was. */
  private async deleteIn(
    sql: Sql,
    type: string,
    id: string,
    ctx: RequestContext,
  ): Promise<Resource | undefined> {
    const seen = requireSome(ctx, type, 'delete');
    for (let attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
      const row = await this.current(sql, type, id, seen);
      if (!row) throw notFound(type, id);
      if (row.deleted) return undefined;
      if (!row.visible) throw outside(type, id, 'delete');
      const version = row.version_id + 1;
      const now = new Date().toISOString();
      if (await writeVersion(sql, type, id, version, 'DELETE', null, now)) {
        await this.indexer.index(sql, type, id, undefined);
        await this.afterWrite(sql, type, id, undefined, row.content ?? undefined);
        return row.content ?? undefined;
      }
    }
    throw new FhirError(409, 'conflict', `${type}/${id} is being updated concurrently; retry`);
  }

  /**
   * Newest first. Under a restriction, a resource's versions are listed when the resource as it
   * is now is inside the grant (instance history: read; type and system history: search and
   * read of each type), so a compartment's history never shows another patient's records.
   */
  async history(query: HistoryQuery, ctx: RequestContext): Promise<HistoryPage> {
    const { type, id } = query;
    const b = new Binds();
    const where: string[] = [];
    // AuditEvents record accesses, this one included: listing them with the changes would grow
    // system history on every read of it. They have their own, AuditEvent/_history.
    if (type) where.push(`h.resource_type = ${b.add(type)}`);
    else where.push(`h.resource_type <> 'AuditEvent'`);
    if (id) where.push(`h.id = ${b.add(id)}`);
    if (query.since) where.push(`h.last_updated >= ${b.add(query.since)}::timestamptz`);
    const restricted = ctx.access !== 'unrestricted';
    if (restricted) {
      const visible = type
        ? accessCondition(b, 'r', type, requireSome(ctx, type, id ? 'read' : 'search'))
        : accessConditionByType(b, 'r', ctx, 'read');
      where.push(visible);
    }
    const from = restricted
      ? `resource_history h JOIN resource_current r
           ON r.resource_type = h.resource_type AND r.id = h.id`
      : 'resource_history h';
    const filter = where.length ? `WHERE ${where.join(' AND ')}` : '';
    const totalRows = await this.sql.query<{ total: number }>(
      `SELECT count(*)::int AS total FROM ${from} ${filter}`,
      b.values,
    );
    const paged = [...where];
    if (query.after) paged.push(`h.seq < ${b.add(query.after.seq)}::bigint`);
    const rows = await this.sql.query<HistoryRow>(
      `SELECT h.seq::text AS seq, h.resource_type, h.id, h.version_id, h.last_updated, h.method,
              h.content
       FROM ${from} ${paged.length ? `WHERE ${paged.join(' AND ')}` : ''}
       ORDER BY h.seq DESC LIMIT ${b.add(query.count + 1)}`,
      b.values,
    );
    const total = totalRows[0]?.total ?? 0;
    if (type && id && total === 0) {
      const row = await this.current(this.sql, type, id, requireSome(ctx, type, 'read'));
      if (!row?.visible) throw notFound(type, id);
    }
    const page = rows.slice(0, query.count);
    const last = page[page.length - 1];
    return {
      versions: page.map(toVersion),
      total,
      next: rows.length > query.count && last ? { seq: last.seq } : undefined,
    };
  }

  /** In this store's transaction when it is one: the event shares the fate of the change. */
  /**
   * One statement (see writer.ts): in this store's transaction when it is one, else committed
   * on its own before the promise resolves.
   */
  audit(event: AuditEvent): Promise<AuditEvent> {
    return appendAudit(this.sql, event, (resource) => this.indexer.extract(resource));
  }

  transaction<T>(work: (tx: FhirStore) => Promise<T>): Promise<T> {
    if (this.inTransaction) return work(this);
    return this.db.transaction((sql) =>
      work(new PostgresStore(this.db, sql, true, this.indexer, this.secrets, this.hooks)),
    );
  }

  /**
   * Made or read outside any transaction (so a rolled-back transaction can't leave a replica
   * holding a key the others never see) and cached. A first read from inside a transaction would
   * wait on that very transaction under PGlite's single connection, so open() reads the known
   * secrets up front; see PRELOADED_SECRETS.
   */
  sharedSecret(name: string): Promise<Buffer> {
    let secret = this.secrets.get(name);
    if (!secret) {
      secret = (async () => {
        // Two replicas may race here: DO NOTHING lets the first win and both read the winner.
        await this.db.query(
          'INSERT INTO server_secret (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING',
          [name, randomBytes(32).toString('base64')],
        );
        const rows = await this.db.query<{ value: string }>(
          'SELECT value FROM server_secret WHERE name = $1',
          [name],
        );
        return Buffer.from(rows[0]!.value, 'base64');
      })();
      secret.catch(() => this.secrets.delete(name));
      this.secrets.set(name, secret);
    }
    return secret;
  }

  async ping(): Promise<void> {
    await this.db.query('SELECT 1');
  }

  close(): Promise<void> {
    return this.db.close();
  }
}
