/**
 * FHIR_STORE=healthlake: clinical resources in an AWS HealthLake data store, reached through
 * the signed client; everything HealthLake can't hold for us stays in Postgres (`local`): the
 * audit trail (AuditEvents are read and searched there too), shared secrets, the workflow
 * tables the write hooks use. Access policy is applied in the upstream query (access.ts).
 *
 * A unit of work opens a Postgres transaction; its writes are checked and collected, its
 * AuditEvent is written in that transaction, then the writes go upstream (writes.ts), then the
 * transaction commits. An upstream failure rolls the AuditEvent back (the REST layer records the
 * failure instead); a commit that fails after HealthLake applied the writes is re-recorded
 * outside the transaction and reported as a 500, never silently lost.
 */
import { randomUUID } from 'node:crypto';
import type { AuditEvent, Resource } from 'fhir/r4.js';
import { FhirError, gone, notFound } from '../../fhir/errors.js';
import type { PagePosition, SearchQuery } from '../../search/query.js';
import type { Database, Sql } from '../../db/database.js';
import type { PostgresStore } from '../postgres/postgres-store.js';
import type { WriteHook } from '../write-hook.js';
import type {
  FhirStore,
  HistoryPage,
  HistoryQuery,
  RequestContext,
  SearchResult,
} from '../store.js';
import type { WriteKind } from '../../auth/write-reach.js';
import { withTargetPatients } from '../../auth/provenance-compartment.js';
import {
  assertReachable,
  grantFor,
  isInside,
  reachedBefore,
  upstreamScope,
  type UpstreamScope,
} from './access.js';
import { entriesByMode, linkOf, positionOf, searchParams } from './bundles.js';
import {
  MERGED,
  requireOpenSystemHistory,
  restrictedTypeHistory,
  upstreamHistory,
} from './history.js';
import type { Upstream } from './upstream.js';
import { flushWrites, restampResult, type PendingWrite } from './writes.js';

export interface HealthLakeParts {
  upstream: Upstream;
  db: Database;
  /** The Postgres store on `db`: AuditEvents and secrets. */
  local: PostgresStore;
  hooks: readonly WriteHook[];
  /** FHIR_BASE_URL, read when needed (tests learn their port after start-up). */
  baseUrl: () => string;
  /** HEALTHLAKE_PAGE_TOKEN_KEY: seals paging cursors instead of the `paging` secret. */
  pageTokenKey: Buffer | undefined;
  /** Throws unless the data store is ACTIVE (DescribeFHIRDatastore). */
  checkActive: () => Promise<void>;
  closeControl: () => void;
  onAuditLost?: (err: unknown) => void;
}

interface Unit {
  sql: Sql;
  local: PostgresStore;
  writes: PendingWrite[];
  audits: AuditEvent[];
}

/** Kept in Postgres, never forwarded: HealthLake holds clinical data, we hold the trail. */
const LOCAL_TYPES = new Set(['AuditEvent']);
const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;
/** Ids become path segments upstream: `.` or `..` would name another path, not a resource. */
const pathSafe = (id: string) => FHIR_ID.test(id) && !/^\.+$/.test(id);

const outside = (type: string, id: string, access: string) =>
  new FhirError(
    403,
    'forbidden',
    `${type}/${id} is outside what the token may ${access} (its patient compartment or scope filter)`,
  );

export class HealthLakeStore implements FhirStore {
  constructor(
    private readonly parts: HealthLakeParts,
    private readonly unit?: Unit,
  ) {}

  /** The Postgres side (AuditEvents, secrets); the workflow tables share it (app.ts). */
  get database(): Database {
    return this.parts.db;
  }

  private get local(): PostgresStore {
    return this.unit?.local ?? this.parts.local;
  }

  private get upstream(): Upstream {
    return this.parts.upstream;
  }

  private scope(ctx: RequestContext, type: string, access: Parameters<typeof grantFor>[2]) {
    return upstreamScope(ctx, type, access, this.upstream.resolver());
  }

  private inside(resource: Resource, scope: UpstreamScope) {
    return isInside(resource, scope, this.upstream.resolver());
  }

  // ---- reads ------------------------------------------------------------------------------

  /** The latest write of this unit to a resource, if any (a transaction reads its own writes). */
  private pending(type: string, id: string): PendingWrite | undefined {
    return [...(this.unit?.writes ?? [])].reverse().find((w) => w.type === type && w.id === id);
  }

  /** The current version, unrestricted: this unit's own write, else HealthLake's. */
  private async current(type: string, id: string): Promise<Resource | 'deleted' | undefined> {
    if (!pathSafe(id)) return undefined;
    const mine = this.pending(type, id);
    if (mine) return mine.kind === 'delete' ? 'deleted' : mine.resource;
    return this.upstream.fetch(`${type}/${id}`);
  }

  /**
   * Outside the caller's grant is 404, as if it weren't there: a 403 would tell a patient-scoped
   * token that another patient's resource exists. Under a restriction a deleted resource is
   * 404 too (its compartment went with it), as in the Postgres store.
   */
  async read(type: string, id: string, ctx: RequestContext): Promise<Resource> {
    if (LOCAL_TYPES.has(type)) return this.local.read(type, id, ctx);
    const scope = await this.scope(ctx, type, 'read');
    const found = await this.current(type, id);
    if (found === undefined || (found === 'deleted' && scope.kind !== 'everything')) {
      throw notFound(type, id);
    }
    if (found === 'deleted') throw gone(type, id);
    if (!(await this.inside(found, scope))) throw notFound(type, id);
    return found;
  }

  /** Old versions are visible when the resource, as it is now, is inside the grant. */
  async vread(type: string, id: string, versionId: string, ctx: RequestContext) {
    if (LOCAL_TYPES.has(type)) return this.local.vread(type, id, versionId, ctx);
    const noVersion = new FhirError(404, 'not-found', `${type}/${id} has no version ${versionId}`);
    if (!/^[1-9]\d{0,8}$/.test(versionId) || !pathSafe(id)) throw noVersion;
    if (grantFor(ctx, type, 'read') !== 'everything') {
      try {
        await this.read(type, id, ctx);
      } catch (err) {
        if (err instanceof FhirError && err.statusCode === 404) throw noVersion;
        throw err;
      }
    }
    const found = await this.upstream.fetch(`${type}/${id}/_history/${versionId}`);
    if (found === undefined) throw noVersion;
    if (found === 'deleted') {
      throw new FhirError(410, 'deleted', `${type}/${id} version ${versionId} is a deletion`);
    }
    return found;
  }

  async search(
    query: SearchQuery,
    ctx: RequestContext,
    position?: PagePosition,
  ): Promise<SearchResult> {
    if (LOCAL_TYPES.has(query.type)) return this.local.search(query, ctx, position);
    assertReachable(ctx, query);
    const scope = await this.scope(ctx, query.type, 'search');
    if (scope.kind === 'nothing') {
      return { matches: [], included: [], total: 0, next: undefined, previous: undefined };
    }
    // A cursor replays HealthLake's own link, which already carries the constraints we added.
    const bundle = position?.keys[0]
      ? await this.upstream.follow(position.keys[0])
      : await this.upstream.search(query.type, [
          ...searchParams(query, this.parts.baseUrl()),
          ...(scope.kind === 'constrained' ? scope.params : []),
        ]);
    const { matches, included } = entriesByMode(bundle);
    const endpoint = this.upstream.client.endpoint;
    return {
      matches,
      included: await this.visibleIncludes(included, ctx),
      total: query.total === 'none' ? undefined : bundle.total,
      next: positionOf(linkOf(bundle, 'next', endpoint), 'next'),
      previous: positionOf(
        linkOf(bundle, 'previous', endpoint) ?? linkOf(bundle, 'prev', endpoint),
        'previous',
      ),
    };
  }

  /**
   * What _include/_revinclude reached, each held to its own type's read grant. Includes can't
   * be constrained upstream, so this is the one place results are checked after fetching.
   */
  private async visibleIncludes(included: Resource[], ctx: RequestContext) {
    const kept: Resource[] = [];
    for (const resource of included) {
      let scope: UpstreamScope;
      try {
        scope = await this.scope(ctx, resource.resourceType, 'read');
      } catch {
        continue;
      }
      if (await this.inside(resource, scope)) kept.push(resource);
    }
    return kept;
  }

  /**
   * Instance history needs read of the resource as it is now. Under a compartment or filter,
   * type history merges the visible resources' own histories (restricted-history.ts); system
   * history can't be constrained upstream and is refused.
   */
  async history(query: HistoryQuery, ctx: RequestContext): Promise<HistoryPage> {
    const { type, id } = query;
    if (type && LOCAL_TYPES.has(type)) return this.local.history(query, ctx);
    if (type && id) {
      if (!pathSafe(id)) throw notFound(type, id);
      if (grantFor(ctx, type, 'read') !== 'everything') await this.read(type, id, ctx);
    } else if (type) {
      const scope = await this.scope(ctx, type, 'search');
      if (scope.kind !== 'everything' || query.after?.seq.startsWith(MERGED)) {
        if (scope.kind === 'everything')
          throw new FhirError(400, 'invalid', 'The paging cursor is invalid');
        return restrictedTypeHistory(this.upstream, type, scope, query);
      }
    } else requireOpenSystemHistory(ctx, LOCAL_TYPES);
    return upstreamHistory(this.upstream, query);
  }

  // ---- writes -----------------------------------------------------------------------------

  /** Each write outside a unit of work is a unit of its own. */
  private inUnit<T>(work: (store: HealthLakeStore) => Promise<T>): Promise<T> {
    return this.unit ? work(this) : this.transaction((tx) => work(tx as HealthLakeStore));
  }

  private async prepare(type: string, id: string, resource: Resource, previous?: Resource) {
    let prepared = resource;
    for (const hook of this.parts.hooks) {
      if (hook.beforeWrite) {
        prepared = await hook.beforeWrite(
          { sql: this.unit!.sql, store: this },
          type,
          id,
          prepared,
          previous,
        );
      }
    }
    // Not a hook: the compartment a Provenance is in is access policy (provenance-compartment.ts).
    return withTargetPatients(prepared, async (targetType, targetId) => {
      const found = await this.current(targetType, targetId);
      return typeof found === 'object' ? found : undefined;
    });
  }

  private async record(write: PendingWrite, previous: Resource | undefined) {
    if (!pathSafe(write.id)) {
      throw new FhirError(400, 'invalid', `"${write.id}" can't be a resource id on this store`);
    }
    this.unit!.writes.push(write);
    for (const hook of this.parts.hooks) {
      await hook.afterWrite(
        { sql: this.unit!.sql, store: this },
        write.type,
        write.id,
        write.resource,
        previous,
      );
    }
  }

  /** Fine-grained (v2 filter) write grants would need the write upstream to be checked. */
  private async writeScope(
    ctx: RequestContext,
    type: string,
    access: 'create' | 'update' | 'delete',
  ) {
    const scope = await this.scope(ctx, type, access);
    if (scope.kind === 'constrained' && scope.grant.filters.length > 0) {
      throw new FhirError(
        501,
        'not-supported',
        `The token's fine-grained scopes on ${type} can't be enforced on writes to HealthLake`,
      );
    }
    return scope;
  }

  private assertInside(resource: Resource, scope: UpstreamScope, access: string, kind: WriteKind) {
    if (reachedBefore(resource, scope, kind)) return;
    throw outside(resource.resourceType, resource.id!, access);
  }

  create(resource: Resource, ctx: RequestContext, id: string = randomUUID()): Promise<Resource> {
    return this.inUnit(async (store) => {
      const type = resource.resourceType;
      const scope = await store.writeScope(ctx, type, 'create');
      const stored = stamp(await store.prepare(type, id, resource), id, '1');
      store.assertInside(stored, scope, 'create', 'new-id');
      await store.record(
        { kind: 'create', type, id, resource: stored, callerIfMatch: false },
        undefined,
      );
      return stored;
    });
  }

  update(resource: Resource, ctx: RequestContext, ifMatch?: string) {
    return this.inUnit((store) => store.updateIn(resource, ctx, ifMatch));
  }

  private async updateIn(resource: Resource, ctx: RequestContext, ifMatch?: string) {
    const type = resource.resourceType;
    const id = resource.id!;
    const scope = await this.writeScope(ctx, type, 'update');
    const found = await this.current(type, id);
    const before = typeof found === 'object' ? found : undefined;
    if (before && !(await this.inside(before, scope))) throw outside(type, id, 'update');
    if (found === 'deleted' && scope.kind !== 'everything') {
      throw new FhirError(
        403,
        'forbidden',
        `${type}/${id} was deleted; recreating it needs access to every patient's ${type}`,
      );
    }
    const version = before?.meta?.versionId;
    if (ifMatch !== undefined && version !== ifMatch) {
      throw new FhirError(
        412,
        'conflict',
        before
          ? `If-Match version ${ifMatch} is not the current version of ${type}/${id}`
          : `${type}/${id} does not exist, so If-Match can't match`,
      );
    }
    const next = version && /^\d+$/.test(version) ? String(Number(version) + 1) : '1';
    const stored = stamp(await this.prepare(type, id, resource, before), id, next);
    this.assertInside(stored, scope, 'update', before ? 'replacing' : 'client-id');
    const pendingCreate = this.pending(type, id)?.kind === 'create';
    await this.record(
      {
        kind: pendingCreate ? 'create' : 'update',
        type,
        id,
        resource: stored,
        ...(version && !pendingCreate ? { replaces: version } : {}),
        callerIfMatch: ifMatch !== undefined,
      },
      before,
    );
    return { resource: stored, created: !before };
  }

  delete(type: string, id: string, ctx: RequestContext): Promise<Resource | undefined> {
    return this.inUnit(async (store) => {
      const scope = await store.writeScope(ctx, type, 'delete');
      const found = await store.current(type, id);
      if (found === undefined) throw notFound(type, id);
      if (found === 'deleted') return undefined;
      if (!(await store.inside(found, scope))) throw outside(type, id, 'delete');
      for (const hook of store.parts.hooks) {
        await hook.beforeDelete?.({ sql: store.unit!.sql, store }, type, id, found);
      }
      await store.record(
        {
          kind: 'delete',
          type,
          id,
          ...(found.meta?.versionId ? { replaces: found.meta.versionId } : {}),
          callerIfMatch: false,
        },
        found,
      );
      return found;
    });
  }

  /**
   * Conditional writes search upstream (under the caller's search grant) and then write. The
   * search and the write are two requests: unlike Postgres there is no lock between them, so
   * two racing conditional creates can both create (documented in the README).
   */
  private async matches(criteria: SearchQuery, ctx: RequestContext): Promise<Resource[]> {
    // Racing conditional writes with the same criteria queue on a lock in the unit's Postgres
    // transaction, held until after its write reached HealthLake: the second then finds it.
    const key = `healthlake:${criteria.type}?${criteria.applied
      .map(([k, v]) => `${k}=${v}`)
      .sort()
      .join('&')}`;
    await this.unit!.sql.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 23))', [key]);
    const found = await this.search({ ...criteria, count: 2, include: [], revinclude: [] }, ctx);
    if (found.matches.length > 1) {
      throw new FhirError(412, 'duplicate', `The criteria match more than one ${criteria.type}`);
    }
    return found.matches;
  }

  conditionalCreate(resource: Resource, criteria: SearchQuery, ctx: RequestContext) {
    return this.inUnit(async (store) => {
      const [existing] = await store.matches(criteria, ctx);
      if (existing) return { resource: existing, created: false };
      return { resource: await store.create(resource, ctx), created: true };
    });
  }

  conditionalUpdate(resource: Resource, criteria: SearchQuery, ctx: RequestContext) {
    return this.inUnit(async (store) => {
      const [existing] = await store.matches(criteria, ctx);
      if (existing && resource.id !== undefined && resource.id !== existing.id) {
        throw new FhirError(
          400,
          'invalid',
          `The criteria match ${existing.resourceType}/${existing.id}, not the body's id ${resource.id}`,
        );
      }
      if (!existing && resource.id === undefined) {
        return { resource: await store.create(resource, ctx), created: true };
      }
      const id = existing?.id ?? resource.id;
      return store.updateIn({ ...resource, id } as Resource, ctx);
    });
  }

  conditionalDelete(criteria: SearchQuery, ctx: RequestContext): Promise<Resource> {
    return this.inUnit(async (store) => {
      const [existing] = await store.matches(criteria, ctx);
      if (!existing)
        throw new FhirError(404, 'not-found', `No ${criteria.type} matches the criteria`);
      await store.delete(criteria.type, existing.id!, ctx);
      return existing;
    });
  }

  // ---- the Postgres side ------------------------------------------------------------------

  async audit(event: AuditEvent): Promise<AuditEvent> {
    const stored = await this.local.audit(event);
    this.unit?.audits.push(event);
    return stored;
  }

  async transaction<T>(work: (tx: FhirStore) => Promise<T>): Promise<T> {
    if (this.unit) return work(this);
    let unit: Unit | undefined;
    let sent = false;
    try {
      return await this.parts.db.transaction(async (sql) => {
        unit = { sql, local: this.parts.local.bind(sql), writes: [], audits: [] };
        const result = await work(new HealthLakeStore(this.parts, unit));
        const restamps = await flushWrites(this.upstream.client, unit.writes);
        sent = unit.writes.length > 0;
        restampResult(result, restamps);
        return result;
      });
    } catch (err) {
      if (!sent || !unit) throw err;
      // HealthLake has the change but its AuditEvent did not commit: write it again on its own.
      this.parts.onAuditLost?.(err);
      for (const event of unit.audits) {
        try {
          await this.parts.local.audit(event);
        } catch (again) {
          this.parts.onAuditLost?.(again);
        }
      }
      throw new FhirError(
        500,
        'exception',
        'The change was applied, but recording it failed; the audit trail was written again separately',
      );
    }
  }

  async sharedSecret(name: string): Promise<Buffer> {
    if (name === 'paging' && this.parts.pageTokenKey) return this.parts.pageTokenKey;
    return this.parts.local.sharedSecret(name);
  }

  async ping(): Promise<void> {
    await this.parts.local.ping();
    await this.parts.checkActive();
  }

  async close(): Promise<void> {
    this.upstream.client.close();
    this.parts.closeControl();
    await this.parts.db.close();
  }
}

function stamp(resource: Resource, id: string, versionId: string): Resource {
  const { resourceType, id: _clientId, meta, ...rest } = resource;
  return {
    resourceType,
    id,
    meta: { ...meta, versionId, lastUpdated: new Date().toISOString() },
    ...rest,
  } as Resource;
}
