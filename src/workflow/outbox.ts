/**
 * The outbox: how an operation's FHIR writes reach a clinical store that can't join the
 * workflow's transaction. OutboxStore takes the writes (and AuditEvents) of one operation into
 * `outbox` rows of the workflow transaction, running the write hooks (the appointment ledger)
 * on the workflow database as it goes; deliverOutbox sends committed rows to the store in
 * order, and is run after every operation and on a timer, by whichever replica gets there.
 */
import { randomUUID } from 'node:crypto';
import type { AuditEvent, Resource } from 'fhir/r4.js';
import { FhirError } from '../fhir/errors.js';
import type { PagePosition, SearchQuery } from '../search/query.js';
import type { Database, Sql } from '../db/database.js';
import type { WriteHook } from '../store/write-hook.js';
import type {
  FhirStore,
  HistoryPage,
  HistoryQuery,
  RequestContext,
  SearchResult,
} from '../store/store.js';

const SERVER: RequestContext = { requestId: 'outbox', access: 'unrestricted' };

const notHere = (what: string) =>
  new FhirError(501, 'not-supported', `${what} is not available to operations on this store`);

/** Reads go to the store; writes are queued in the workflow transaction. */
export class OutboxStore implements FhirStore {
  constructor(
    private readonly sql: Sql,
    private readonly store: FhirStore,
    private readonly hooks: readonly WriteHook[],
  ) {}

  private async enqueue(kind: string, type: string, id: string, body: unknown) {
    await this.sql.query(
      `INSERT INTO outbox (kind, resource_type, resource_id, body) VALUES ($1, $2, $3, $4::json)`,
      [kind, type, id, body === undefined ? null : JSON.stringify(body)],
    );
  }

  private async afterWrite(type: string, id: string, now?: Resource, before?: Resource) {
    for (const hook of this.hooks) {
      await hook.afterWrite({ sql: this.sql, store: this }, type, id, now, before);
    }
  }

  private stamp(resource: Resource, id: string, versionId?: string): Resource {
    const meta = { ...resource.meta, lastUpdated: new Date().toISOString() };
    if (versionId) Object.assign(meta, { versionId });
    else delete (meta as { versionId?: string }).versionId;
    return { ...resource, id, meta } as Resource;
  }

  async create(resource: Resource, _ctx: RequestContext, id: string = randomUUID()) {
    const stored = this.stamp(resource, id, '1');
    await this.enqueue('create', resource.resourceType, id, stored);
    await this.afterWrite(resource.resourceType, id, stored);
    return stored;
  }

  async update(resource: Resource, ctx: RequestContext, ifMatch?: string) {
    if (ifMatch !== undefined) throw notHere('If-Match');
    const type = resource.resourceType;
    const id = resource.id!;
    let before: Resource | undefined;
    try {
      before = await this.store.read(type, id, ctx);
    } catch {
      before = undefined;
    }
    const stored = this.stamp(resource, id);
    await this.enqueue('update', type, id, stored);
    await this.afterWrite(type, id, stored, before);
    return { resource: stored, created: before === undefined };
  }

  async delete(type: string, id: string, ctx: RequestContext) {
    const before = await this.store.read(type, id, ctx);
    for (const hook of this.hooks) {
      await hook.beforeDelete?.({ sql: this.sql, store: this }, type, id, before);
    }
    await this.enqueue('delete', type, id, undefined);
    await this.afterWrite(type, id, undefined, before);
    return before;
  }

  async audit(event: AuditEvent) {
    await this.enqueue('audit', 'AuditEvent', randomUUID(), event);
    return event;
  }

  read(type: string, id: string, ctx: RequestContext) {
    return this.store.read(type, id, ctx);
  }
  vread(type: string, id: string, versionId: string, ctx: RequestContext) {
    return this.store.vread(type, id, versionId, ctx);
  }
  search(query: SearchQuery, ctx: RequestContext, position?: PagePosition): Promise<SearchResult> {
    return this.store.search(query, ctx, position);
  }
  history(query: HistoryQuery, ctx: RequestContext): Promise<HistoryPage> {
    return this.store.history(query, ctx);
  }
  conditionalCreate(): Promise<never> {
    return Promise.reject(notHere('Conditional create'));
  }
  conditionalUpdate(): Promise<never> {
    return Promise.reject(notHere('Conditional update'));
  }
  conditionalDelete(): Promise<never> {
    return Promise.reject(notHere('Conditional delete'));
  }
  transaction<T>(work: (tx: FhirStore) => Promise<T>): Promise<T> {
    return work(this);
  }
  sharedSecret(name: string) {
    return this.store.sharedSecret(name);
  }
  ping() {
    return this.store.ping();
  }
  async close() {
    // The store and the workflow database are closed by their owners.
  }
}

interface Row {
  seq: string;
  kind: 'create' | 'update' | 'delete' | 'audit';
  resource_type: string;
  resource_id: string;
  body: Resource | null;
}

async function deliver(store: FhirStore, row: Row) {
  switch (row.kind) {
    case 'create':
      // Delivered before (and the acknowledgement lost)? Then it is there: don't write again.
      try {
        await store.read(row.resource_type, row.resource_id, SERVER);
        return;
      } catch (error) {
        if (!(error instanceof FhirError) || error.statusCode !== 404) throw error;
      }
      await store.update(row.body!, SERVER);
      return;
    case 'update':
      await store.update(row.body!, SERVER);
      return;
    case 'delete':
      await store.delete(row.resource_type, row.resource_id, SERVER);
      return;
    case 'audit':
      await store.audit(row.body as AuditEvent);
  }
}

/** Any constant: it only has to be the same in every replica. */
const OUTBOX_CLAIM_LOCK = 4_242_007;

/**
 * Sends pending rows in order until one fails (later rows may depend on it) or none is left.
 * Returns how many were delivered.
 *
 * The rows are claimed with a lease (and a token naming this claim) in a short transaction of
 * their own, then delivered with no transaction open: the store may share this database (the HealthLake store keeps its
 * local tables here), and on embedded PGlite's one connection a transaction held across the
 * store's own would wait on itself. One deliverer at a time: a claim is taken under an advisory
 * lock and only while no other replica holds a live lease, so rows reach the store in their
 * order; a replica that dies mid-batch leaves leases that run out after `leaseMs`, and the next
 * claim starts again from the oldest undelivered row (a create already delivered is not
 * repeated; an update is the same version again).
 */
export async function deliverOutbox(
  db: Database,
  store: FhirStore,
  batch = 100,
  leaseMs = 300_000,
): Promise<number> {
  const token = randomUUID();
  const rows = await db.transaction(async (sql) => {
    const [lock] = await sql.query<{ ok: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS ok', [
      OUTBOX_CLAIM_LOCK,
    ]);
    if (!lock?.ok) return [];
    return sql.query<Row>(
      `UPDATE outbox SET lease_until = now() + make_interval(secs => $2), lease_token = $3
       WHERE seq IN (
         SELECT seq FROM outbox WHERE delivered_at IS NULL
           AND NOT EXISTS (SELECT 1 FROM outbox WHERE delivered_at IS NULL AND lease_until > now())
         ORDER BY seq LIMIT $1)
       RETURNING seq::text AS seq, kind, resource_type, resource_id, body`,
      [batch, leaseMs / 1000, token],
    );
  });
  rows.sort((a, b) => (BigInt(a.seq) < BigInt(b.seq) ? -1 : 1));
  let delivered = 0;
  for (const [i, row] of rows.entries()) {
    const rest = rows.slice(i).map((r) => r.seq);
    // The lease renewed before each row, so it runs out only if one row outlasts it; and only
    // while this claim still holds the row (else another deliverer has taken over: stop).
    const held = await db.query(
      `UPDATE outbox SET lease_until = now() + make_interval(secs => $2)
       WHERE seq = ANY($1::bigint[]) AND lease_token = $3 AND delivered_at IS NULL
       RETURNING seq`,
      [rest, leaseMs / 1000, token],
    );
    if (!held.some((h: { seq?: unknown }) => String(h.seq) === row.seq)) return delivered;
    try {
      await deliver(store, row);
    } catch (error) {
      await db.query(
        `UPDATE outbox SET attempts = attempts + CASE WHEN seq = $1 THEN 1 ELSE 0 END,
           last_error = CASE WHEN seq = $1 THEN $2 ELSE last_error END,
           lease_until = NULL, lease_token = NULL
         WHERE seq = ANY($3::bigint[]) AND lease_token = $4`,
        [row.seq, error instanceof Error ? error.message.slice(0, 500) : 'failed', rest, token],
      );
      return delivered;
    }
    const marked = await db.query(
      `UPDATE outbox SET delivered_at = now(), attempts = attempts + 1, lease_until = NULL,
         lease_token = NULL
       WHERE seq = $1 AND lease_token = $2 RETURNING seq`,
      [row.seq, token],
    );
    // Taken over while it was being sent: the new holder sends it again (at least once).
    if (!marked.length) return delivered;
    delivered++;
  }
  return delivered;
}
