import { randomUUID } from 'node:crypto';
import type { AuditEvent, Resource } from 'fhir/r4.js';
import type { Sql } from '../store/postgres/database.js';
import { canonicalJson } from './chain.js';
import type { IndexValues } from '../search/extract.js';
import { indexRowsJson } from '../store/postgres/search-indexer.js';

/** A resource's search-index values; `searchIndexer(baseUrl).extract` fits. */
export type AuditIndex = (resource: Resource) => IndexValues;

/** How many independent hash chains the trail is split into (005_audit_lanes.sql). */
export const AUDIT_LANES = 8;

/**
 * The whole append in one statement: lock a lane's head, hash onto it (SHA-256 in SQL over
 * the previous hash, a newline and the event's canonical JSON, exactly as chain.ts computes
 * it), insert the chain link, the served copy, its history row and its search-index rows. The
 * BEFORE INSERT trigger on audit_log still checks prev_hash against the head and moves it; the
 * resource tables' AFTER INSERT triggers accept the copies because the audit_log row is in the
 * same statement. Outside a transaction the statement commits on its own, so the head stays
 * locked only while it runs: a read's audit is one round trip.
 */
const append = (head: string) => `
WITH
  head AS (${head}),
  link AS (
    INSERT INTO audit_log (id, recorded, lane, prev_hash, hash, content)
    SELECT $1, $2::timestamptz, head.lane, head.hash,
           encode(sha256(convert_to(head.hash || chr(10) || $3, 'UTF8')), 'hex'), $4::json
    FROM head
    RETURNING seq
  ),
  cur AS (
    INSERT INTO resource_current (resource_type, id, version_id, last_updated, deleted, content)
    SELECT 'AuditEvent', $1, 1, $5::timestamptz, false, $4::json FROM link
  ),
  hist AS (
    INSERT INTO resource_history (resource_type, id, version_id, last_updated, method, content)
    SELECT 'AuditEvent', $1, 1, $5::timestamptz, 'POST', $4::json FROM link
  ),
  i1 AS (INSERT INTO idx_string (resource_type, id, code, value, exact)
         SELECT 'AuditEvent', $1, x.code, x.value, x.exact
         FROM json_to_recordset($6::json) AS x(code text, value text, exact text)),
  i2 AS (INSERT INTO idx_token (resource_type, id, code, system, value, text)
         SELECT 'AuditEvent', $1, x.code, x.system, x.value, x.text
         FROM json_to_recordset($7::json) AS x(code text, system text, value text, text text)),
  i3 AS (INSERT INTO idx_date (resource_type, id, code, start_at, end_at)
         SELECT 'AuditEvent', $1, x.code, x.start::timestamptz, x."end"::timestamptz
         FROM json_to_recordset($8::json) AS x(code text, start text, "end" text)),
  i4 AS (INSERT INTO idx_reference (resource_type, id, code, target_type, target_id, url)
         SELECT 'AuditEvent', $1, x.code, x."targetType", x."targetId", x.url
         FROM json_to_recordset($9::json)
           AS x(code text, "targetType" text, "targetId" text, url text)),
  i5 AS (INSERT INTO idx_number (resource_type, id, code, value, system, unit)
         SELECT 'AuditEvent', $1, x.code, x.value, x.system, x.unit
         FROM json_to_recordset($10::json) AS x(code text, value numeric, system text, unit text)),
  i6 AS (INSERT INTO idx_uri (resource_type, id, code, value)
         SELECT 'AuditEvent', $1, x.code, x.value
         FROM json_to_recordset($11::json) AS x(code text, value text))
SELECT seq FROM link`;

/**
 * The first lane, from lane $12 on, that no other transaction holds: appends in different lanes
 * don't wait for each other's commits. Rows this transaction already locked are never skipped,
 * so a transaction that holds a lane never falls through to the query below.
 */
const APPEND_TO_FREE_LANE = append(
  `SELECT lane, hash FROM audit_chain_head ORDER BY (lane + ${AUDIT_LANES} - $12) % ${AUDIT_LANES}
   LIMIT 1 FOR UPDATE SKIP LOCKED`,
);
/**
 * Every lane was busy: queue on lane $12. This transaction holds no lane (see above), so it
 * can't close a cycle of transactions waiting for each other's lanes.
 */
const APPEND_TO_LANE = append(
  'SELECT lane, hash FROM audit_chain_head WHERE lane = $12 FOR UPDATE',
);

export interface AppendOptions {
  /** The lane to try first; random by default (tests pin it to get one predictable chain). */
  lane?: number;
}

/**
 * Appends an AuditEvent to the hash chain, on `sql`: the caller's transaction when it is one,
 * so the event commits or rolls back with the change it records (fail-closed: if the audit
 * can't be written, neither is the change). Stored as an ordinary resource too, indexed, so
 * search finds it.
 *
 * Inside a transaction the lane's head row stays locked until it ends: appends to that lane
 * from concurrent transactions skip to another lane, or queue when all are held, which is what
 * keeps each lane's chain from forking. Append last in a transaction, after its other writes,
 * so the lock is held briefly.
 */
export async function appendAudit(
  sql: Sql,
  event: AuditEvent,
  extract: AuditIndex,
  options: AppendOptions = {},
): Promise<AuditEvent> {
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
  const values = extract(stored);
  const params = [
    id,
    stored.recorded,
    canonicalJson(stored),
    JSON.stringify(stored),
    lastUpdated,
    ...indexRowsJson(values),
    options.lane ?? Math.floor(Math.random() * AUDIT_LANES),
  ];
  let rows = await sql.query(APPEND_TO_FREE_LANE, params, 'audit-append-free-lane');
  if (rows.length === 0) rows = await sql.query(APPEND_TO_LANE, params, 'audit-append-lane');
  if (rows.length !== 1) throw new Error(`AuditEvent/${id} was not stored: run the migrations`);
  return stored;
}
