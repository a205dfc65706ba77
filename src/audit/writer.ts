import { randomUUID } from 'node:crypto';
import type { AuditEvent } from 'fhir/r4.js';
import type { Sql } from '../db/database.js';
import { canonicalJson } from './chain.js';
import { auditColumns, textArrayLiteral, type AuditColumns } from './columns.js';

/** How many independent hash chains the trail is split into (005_audit_lanes.sql). */
export const AUDIT_LANES = 8;

/** The append's columns after the events' JSON ($1), canonical JSON ($2) and lane ($3). */
const COLUMNS = [
  'id',
  'recorded',
  'last_updated',
  'patient',
  'agent',
  'entity',
  'type',
  'subtype',
  'action',
  'outcome',
  'purpose_of_use',
  'request_id',
  'altid',
  'address',
] as const;
const ARRAYS = new Set([
  'patient',
  'agent',
  'entity',
  'type',
  'subtype',
  'purpose_of_use',
  'altid',
  'address',
]);
const TIMES = new Set(['recorded', 'last_updated']);

/** Each column from its parameter: arrays (as literals) ordered in the database's collation. */
const columnValue = (column: string) =>
  ARRAYS.has(column)
    ? `ARRAY(SELECT k FROM unnest(e.${column}::text[]) k ORDER BY k)`
    : TIMES.has(column)
      ? `e.${column}::timestamptz`
      : `e.${column}`;

/**
 * The whole append in one statement, for one event or a batch: lock a lane's head, hash the
 * events onto it in order (SHA-256 in SQL over the previous hash, a newline and the event's
 * canonical JSON, exactly as chain.ts computes it; the recursive `chain` carries each hash to
 * the next event) and insert one audit_event row per event (008_audit_event.sql): the chain
 * link, the JSON as served, and the searched columns, which columns.ts works out from the event
 * as audit_event_index derives them from the JSON (audit:verify recomputes them). The BEFORE
 * INSERT trigger still checks each prev_hash against the head and moves it, so a batch out of
 * order fails rather than forks. Nothing is inserted when no head was locked. Outside a
 * transaction the statement commits on its own, so the head stays locked only while it runs: a
 * batch of reads' events is one round trip and one commit.
 */
const append = (head: string) => `
WITH RECURSIVE
  head AS (${head}),
  ev AS (
    SELECT e.n::int AS n, e.json, e.canonical, ${COLUMNS.map((c) => `e.${c}`).join(', ')}
    FROM unnest($1::text[], $2::text[], ${COLUMNS.map((_, i) => `$${i + 4}::text[]`).join(', ')})
      WITH ORDINALITY AS e (json, canonical, ${COLUMNS.join(', ')}, n)
  ),
  chain (n, prev_hash, hash) AS (
    SELECT 0, NULL::text, head.hash FROM head
    UNION ALL
    SELECT e.n, c.hash, encode(sha256(convert_to(c.hash || chr(10) || e.canonical, 'UTF8')), 'hex')
    FROM chain c JOIN ev e ON e.n = c.n + 1
  ),
  link AS (
    INSERT INTO audit_event (lane, prev_hash, hash, ${COLUMNS.join(', ')}, json)
    SELECT head.lane, c.prev_hash, c.hash, ${COLUMNS.map(columnValue).join(', ')}, e.json
    FROM ev e JOIN chain c ON c.n = e.n CROSS JOIN head
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
 * `\u0000` or a lone surrogate's escape (JSON.stringify escapes only lone ones) preceded by an
 * even number of backslashes, so a string holding the six characters `\u0000` doesn't count.
 */
const NOT_JSONB = /(?<!\\)(?:\\\\)*\\u(?:0000|d[89a-f][0-9a-f]{2})/i;

/** The bind values of APPEND_TO_FREE_LANE and APPEND_TO_LANE for `events` on `lane`. */
export function appendParams(events: readonly AuditEvent[], lane: number): unknown[] {
  const columns = events.map((event) => auditColumns(event));
  const arrays = (pick: (c: AuditColumns) => string[]) =>
    columns.map((c) => textArrayLiteral(pick(c)));
  const texts = events.map((event) => JSON.stringify(event));
  for (const text of texts) {
    // The JSON is stored as text, but audit:verify reads it as jsonb (audit_event_index), which
    // can't hold NUL or half a surrogate pair: such an event would stop every later verify.
    if (NOT_JSONB.test(text)) throw new Error('an AuditEvent holds text that jsonb refuses');
  }
  return [
    texts,
    events.map((event) => canonicalJson(event)),
    lane,
    events.map((event) => event.id),
    columns.map((c) => c.recorded),
    columns.map((c) => c.lastUpdated),
    arrays((c) => c.patient),
    arrays((c) => c.agent),
    arrays((c) => c.entity),
    arrays((c) => c.type),
    arrays((c) => c.subtype),
    columns.map((c) => c.action),
    columns.map((c) => c.outcome),
    arrays((c) => c.purposeOfUse),
    columns.map((c) => c.requestId),
    arrays((c) => c.altid),
    arrays((c) => c.address),
  ];
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
  const params = appendParams(events, options.lane ?? Math.floor(Math.random() * AUDIT_LANES));
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
