import { randomUUID } from 'node:crypto';
import type { AuditEvent } from 'fhir/r4.js';
import type { Sql } from '../db/database.js';
import { canonicalJson } from './chain.js';

/** How many independent hash chains the trail is split into (005_audit_lanes.sql). */
export const AUDIT_LANES = 8;

/**
 * The whole append in one statement, for one event or a batch: lock a lane's head, hash the
 * events onto it in order (SHA-256 in SQL over the previous hash, a newline and the event's
 * canonical JSON, exactly as chain.ts computes it; the recursive `chain` carries each hash to
 * the next event) and insert one audit_event row per event (008_audit_event.sql): the chain
 * link, the JSON as served, and the searched columns, which audit_event_index derives from the
 * JSON in the database, the same function the migration and audit:verify use. The BEFORE INSERT
 * trigger still checks each prev_hash against the head and moves it, so a batch out of order
 * fails rather than forks. Nothing is inserted when no head was locked. Outside a transaction
 * the statement commits on its own, so the head stays locked only while it runs: a batch of
 * reads' events is one round trip and one commit.
 */
const append = (head: string) => `
WITH RECURSIVE
  head AS (${head}),
  ev AS (
    SELECT e.n::int AS n, e.json, e.canonical
    FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS e (json, canonical, n)
  ),
  chain (n, prev_hash, hash) AS (
    SELECT 0, NULL::text, head.hash FROM head
    UNION ALL
    SELECT e.n, c.hash, encode(sha256(convert_to(c.hash || chr(10) || e.canonical, 'UTF8')), 'hex')
    FROM chain c JOIN ev e ON e.n = c.n + 1
  ),
  link AS (
    INSERT INTO audit_event (lane, id, recorded, last_updated, prev_hash, hash, patient, agent,
      entity, type, subtype, action, outcome, purpose_of_use, request_id, altid, address, json)
    SELECT head.lane, e.json::json->>'id', x.recorded, x.last_updated, c.prev_hash, c.hash,
      x.patient, x.agent, x.entity, x.type, x.subtype, x.action, x.outcome, x.purpose_of_use,
      x.request_id, x.altid, x.address, e.json
    FROM ev e JOIN chain c ON c.n = e.n CROSS JOIN head
      CROSS JOIN LATERAL audit_event_index(e.json::jsonb) x
    ORDER BY e.n
    RETURNING 1
  )
SELECT count(*)::int AS appended FROM link`;

/**
 * The first lane, from lane $3 on, that no other transaction holds: appends in different lanes
 * don't wait for each other's commits. Rows this transaction already locked are never skipped,
 * so a transaction that holds a lane never falls through to the query below.
 */
export const APPEND_TO_FREE_LANE = append(
  `SELECT lane, hash FROM audit_chain_head ORDER BY (lane + ${AUDIT_LANES} - $3) % ${AUDIT_LANES}
   LIMIT 1 FOR UPDATE SKIP LOCKED`,
);
/**
 * Every lane was busy: queue on lane $3. This transaction holds no lane (see above), so it
 * can't close a cycle of transactions waiting for each other's lanes.
 */
export const APPEND_TO_LANE = append(
  'SELECT lane, hash FROM audit_chain_head WHERE lane = $3 FOR UPDATE',
);

export interface AppendOptions {
  /** The lane to try first; random by default (tests pin it to get one predictable chain). */
  lane?: number;
}

/** The event as stored: its id, version 1 and lastUpdated (and recorded, when it had none). */
export function storedAuditEvent(event: AuditEvent): AuditEvent {
  const id = randomUUID();
  const lastUpdated = new Date().toISOString();
  const { resourceType: _type, id: _id, meta, ...rest } = event;
  return {
    resourceType: 'AuditEvent',
    id,
    meta: { ...meta, versionId: '1', lastUpdated },
    ...rest,
    recorded: event.recorded ?? lastUpdated,
  };
}

/**
 * Appends AuditEvents, as given by storedAuditEvent, to one lane of the hash chain in their
 * order, on `sql`: the caller's transaction when it is one, so the events commit or roll back
 * with the change they record (fail-closed: if the audit can't be written, neither is the
 * change). One audit_event row each, which AuditEvent read and search answer from.
 *
 * Inside a transaction the lane's head row stays locked until it ends: appends to that lane
 * from concurrent transactions skip to another lane, or queue when all are held, which is what
 * keeps each lane's chain from forking. Append last in a transaction, after its other writes,
 * so the lock is held briefly.
 */
export async function appendStoredAudits(
  sql: Sql,
  events: readonly AuditEvent[],
  options: AppendOptions = {},
): Promise<void> {
  if (events.length === 0) return;
  const params = [
    events.map((event) => JSON.stringify(event)),
    events.map((event) => canonicalJson(event)),
    options.lane ?? Math.floor(Math.random() * AUDIT_LANES),
  ];
  let appended = await sql.query<{ appended: number }>(
    APPEND_TO_FREE_LANE,
    params,
    'audit-append-free-lane',
  );
  if (appended[0]?.appended === 0) {
    appended = await sql.query(APPEND_TO_LANE, params, 'audit-append-lane');
  }
  if (appended[0]?.appended !== events.length) {
    throw new Error(`${events.length} AuditEvent(s) were not stored: run the migrations`);
  }
}

/** Appends one AuditEvent (see appendStoredAudits) and returns it as stored. */
export async function appendAudit(
  sql: Sql,
  event: AuditEvent,
  options: AppendOptions = {},
): Promise<AuditEvent> {
  const stored = storedAuditEvent(event);
  await appendStoredAudits(sql, [stored], options);
  return stored;
}
