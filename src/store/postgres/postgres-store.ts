import { randomBytes, randomUUID } from 'node:crypto';
import type { AuditEvent, Resource } from 'fhir/r4.js';
import type { Access } from '../../auth/policy.js';
import { appendAudit } from '../../audit/writer.js';
import { AuditBatcher } from '../../audit/batcher.js';
import { AuditPartitions } from '../../audit/partitions.js';
import { FhirError, gone, notFound } from '../../fhir/errors.js';
import type { PagePosition, SearchQuery } from '../../search/query.js';
import type {
  CompartmentPage,
  CompartmentQuery,
  FhirStore,
  HistoryPage,
  HistoryQuery,
  RequestContext,
  SearchResult,
  StoredText,
  WriteMethod,
} from '../store.js';
import { readAndAudit } from './read-audited.js';
import type { Database, Sql } from '../../db/database.js';
import { noIndexer, type ResourceIndexer } from './indexer.js';
import { findMatches, runSearch, sightOf } from './search.js';
import { accessCondition, patientsOutside, requireSome, type Visibility } from './access-sql.js';
import { patientsToReach, type WriteKind } from '../../auth/write-reach.js';
import { withTargetPatients } from '../../auth/provenance-compartment.js';
import { listHistory } from './history.js';
import { compartmentPage } from './compartment-page.js';
import { stamp, writeVersion } from './versions.js';
import { Binds } from './search-sql.js';
import { AUDIT_EVENT, AuditEventStore } from './audit-event-store.js';

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

import type { WriteHook } from '../write-hook.js';

export class PostgresStore implements FhirStore {
  /** Group commit of the events audited outside a transaction (the store's own, not a tx's). */
  private batcher: AuditBatcher | undefined;
  /** Shared with the stores of transactions: one monthly check per process. */
  readonly partitions: AuditPartitions;

  constructor(
    /** The database itself; the workflow tables share it when the clinical store is Postgres. */
    readonly database: Database,
    private readonly sql: Sql = database,
    private readonly inTransaction = false,
    private readonly indexer: ResourceIndexer = noIndexer,
    /** Shared with the stores of transactions: secrets are immutable once made. */
    private readonly secrets = new Map<string, Promise<Buffer>>(),
    private readonly hooks: readonly WriteHook[] = [],
    partitions?: AuditPartitions,
  ) {
    this.partitions = partitions ?? new AuditPartitions(database);
  }

  private get db(): Database {
    return this.database;
  }

  /** AuditEvent reads go to their own table (audit-event-store.ts), on this store's `sql`. */
  private get auditEvents(): AuditEventStore {
    return new AuditEventStore(this.sql);
  }

  /** A store whose reads and writes run on `sql`, a transaction someone else opened and ends. */
  bind(sql: Sql): PostgresStore {
    return new PostgresStore(
      this.db,
      sql,
      true,
      this.indexer,
      this.secrets,
      this.hooks,
      this.partitions,
    );
  }

  private async afterWrite(
    sql: Sql,
    type: string,
    id: string,
    resource: Resource | undefined,
    previous: Resource | undefined,
  ) {
    if (!this.hooks.length) return;
    const store = this.bind(sql);
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
      const store = this.bind(sql);
      prepared = await hook.beforeWrite({ sql, store }, type, id, prepared, previous);
    }
    // Not a hook: the compartment a Provenance is in is access policy, on every store opened.
    return withTargetPatients(prepared, async (targetType, targetId) => {
      const row = await this.current(sql, targetType, targetId);
      return row && !row.deleted ? (row.content ?? undefined) : undefined;
    });
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

  /**
   * Before a write: every patient the new version belongs to must be inside the caller's grant
   * as it is before the write, so a write can't bring a patient into the grant by linking the
   * caller to them (auth/write-reach.ts). After the write, assertInside checks the rest (the
   * stored version inside the grant's compartments and filters).
   */
  private async assertReached(
    sql: Sql,
    resource: Resource,
    ctx: RequestContext,
    access: Access,
    kind: WriteKind,
  ) {
    const seen = requireSome(ctx, resource.resourceType, access);
    if (seen.kind !== 'restricted') return;
    const patients = patientsToReach(resource, seen.grant, kind);
    if (!patients.length) return;
    const b = new Binds();
    const rows = await sql.query(`${patientsOutside(b, patients, seen.grant)} LIMIT 1`, b.values);
    if (rows.length) throw outside(resource.resourceType, resource.id!, access);
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
    await this.assertReached(sql, stored, ctx, 'create', 'new-id');
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
    const found = await findMatches(sql, criteria, 2, sightOf(ctx, criteria.type));
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
    if (query.type === AUDIT_EVENT) return this.auditEvents.search(query, ctx, position);
    return runSearch(this.sql, query, position, ctx);
  }

  compartment(query: CompartmentQuery, ctx: RequestContext): Promise<CompartmentPage> {
    return compartmentPage(this.sql, query, ctx);
  }

  /**
   * Outside the caller's grant is 404, as if it weren't there: a 403 would tell a
   * patient-scoped token that another patient's resource exists. Under a compartment a deleted
   * resource is 404 too, since what it belonged to went with it.
   */
  async read(type: string, id: string, ctx: RequestContext): Promise<Resource> {
    if (type === AUDIT_EVENT) return this.auditEvents.read(id, ctx);
    const row = await this.current(this.sql, type, id, requireSome(ctx, type, 'read'));
    if (!row?.visible) throw notFound(type, id);
    if (row.deleted || !row.content) throw gone(type, id);
    return row.content;
  }

  /** Old versions are visible when the resource, as it is now, is inside the grant. */
  async vread(type: string, id: string, versionId: string, ctx: RequestContext) {
    if (type === AUDIT_EVENT) return this.auditEvents.vread(id, versionId, ctx);
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
      const kind = row && !row.deleted ? 'replacing' : 'client-id';
      await this.assertReached(sql, stored, ctx, 'update', kind);
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
      for (const hook of this.hooks) {
        await hook.beforeDelete?.(
          { sql, store: this.bind(sql) },
          type,
          id,
          row.content ?? undefined,
        );
      }
      if (await writeVersion(sql, type, id, version, 'DELETE', null, now)) {
        await this.indexer.index(sql, type, id, undefined);
        await this.afterWrite(sql, type, id, undefined, row.content ?? undefined);
        return row.content ?? undefined;
      }
    }
    throw new FhirError(409, 'conflict', `${type}/${id} is being updated concurrently; retry`);
  }

  /** Newest first, held to the caller's grant (history.ts). */
  async history(query: HistoryQuery, ctx: RequestContext): Promise<HistoryPage> {
    if (query.type === AUDIT_EVENT) return this.auditEvents.history(query, ctx);
    return listHistory(this.sql, query, ctx, async (type, id) => {
      const row = await this.current(this.sql, type, id, requireSome(ctx, type, 'read'));
      return row?.visible === true;
    });
  }

  /**
   * One statement (see writer.ts) in this store's transaction when it is one; else handed to
   * the batcher, which commits it, with the events of concurrent requests, before the promise
   * resolves.
   */
  audit(event: AuditEvent): Promise<AuditEvent> {
    this.partitions.keepAhead();
    if (this.inTransaction) return appendAudit(this.sql, event);
    this.batcher ??= new AuditBatcher(this.db);
    return this.batcher.append(event);
  }

  /** Reads taking the one-statement path right now (read-audited.ts). */
  private readonly reading = { alone: 0 };

  /** A read and its audit in one round trip when alone, group-committed else (read-audited.ts). */
  async readAudited(
    type: string,
    id: string,
    ctx: RequestContext,
    event: AuditEvent,
  ): Promise<StoredText | undefined> {
    if (this.inTransaction || type === AUDIT_EVENT) return undefined;
    const seen = requireSome(ctx, type, 'read');
    this.partitions.keepAhead();
    this.batcher ??= new AuditBatcher(this.db);
    return readAndAudit(this.sql, this.batcher, this.reading, { type, id, seen, event });
  }

  transaction<T>(work: (tx: FhirStore) => Promise<T>): Promise<T> {
    if (this.inTransaction) return work(this);
    return this.db.transaction((sql) => work(this.bind(sql)));
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

  async close(): Promise<void> {
    await this.batcher?.drain();
    await this.db.close();
  }
}
