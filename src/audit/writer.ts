import { randomUUID } from 'node:crypto';
import type { AuditEvent, Resource } from 'fhir/r4.js';
import type { Sql } from '../store/postgres/database.js';
import { canonicalJson, hashEvent } from './chain.js';

/** Writes a resource's search-index rows; `searchIndexer(baseUrl).index` fits. */
export type AuditIndex = (sql: Sql, type: string, id: string, resource: Resource) => Promise<void>;

/**
 * The chain link, the served copy and its history row in one statement. The BEFORE INSERT
 * trigger on audit_log checks prev_hash against the head and moves the head; the resource
 * tables' AFTER INSERT triggers accept the copies because the audit_log row is in the same
 * statement.
 */
const APPEND = `
WITH
  link AS (
    INSERT INTO audit_log (id, recorded, prev_hash, hash, content)
    VALUES ($1, $2::timestamptz, $3, $4, $5::json)
    RETURNING seq
  ),
  cur AS (
    INSERT INTO resource_current (resource_type, id, version_id, last_updated, deleted, content)
    VALUES ('AuditEvent', $1, 1, $6::timestamptz, false, $5::json)
  )
INSERT INTO resource_history (resource_type, id, version_id, last_updated, method, content)
SELECT 'AuditEvent', $1, 1, $6::timestamptz, 'POST', $5::json FROM link
RETURNING 1`;

/**
 * Appends an AuditEvent to the hash chain, on `sql` — the caller's transaction, so the event
 * commits or rolls back with the change it records (fail-closed: if the audit can't be written,
 * neither is the change). Stored as an ordinary resource too, indexed, so search finds it.
 *
 * The head row stays locked until the caller's transaction ends: appends from concurrent
 * transactions queue there, which is what keeps the chain from forking. Append last in a
 * transaction, after its other writes, so the lock is held briefly and never waited on while
 * holding locks another appender needs.
 */
export async function appendAudit(
  sql: Sql,
  event: AuditEvent,
  index: AuditIndex,
): Promise<AuditEvent> {
  const [head] = await sql.query<{ hash: string }>('SELECT hash FROM audit_chain_head FOR UPDATE');
  if (!head) throw new Error('audit_chain_head is missing: run the migrations');
  const id = randomUUID();
  const lastUpdated = new Date().toISOString();
  const { resourceType: _type, id: _id, meta, ...rest } = event;
  const stored: AuditEvent = {
    resourceType: 'AuditEvent',
    id,
    meta: { ...meta, versionId: '1', lastUpdated },
    ...rest,
    recorded: event.recorded ?? lastUpdated,
  };
  const hash = hashEvent(head.hash, canonicalJson(stored));
  const rows = await sql.query(APPEND, [
    id,
    stored.recorded,
    head.hash,
    hash,
    JSON.stringify(stored),
    lastUpdated,
  ]);
  if (rows.length !== 1) throw new Error(`AuditEvent/${id} was not stored`);
  await index(sql, 'AuditEvent', id, stored);
  return stored;
}
