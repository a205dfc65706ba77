import { randomUUID } from 'node:crypto';
import type { AuditEvent, Resource } from 'fhir/r4.js';
import type { Sql } from '../db/database.js';
import { canonicalJson } from './chain.js';
import type { IndexValues } from '../search/extract.js';

/** A resource's search-index values; `searchIndexer(baseUrl).extract` fits. */
export type AuditIndex = (resource: Resource) => IndexValues;

/** How many independent hash chains the trail is split into (005_audit_lanes.sql). */
export const AUDIT_LANES = 8;

/**
 * The whole append in one statement, for one event or a batch: lock a lane's head, hash the
 * events onto it in order (SHA-256 in SQL over the previous hash, a newline and the event's
 * canonical JSON, exactly as chain.ts computes it; the recursive `chain` carries each hash to
 * the next event), insert the chain links in that order, the served copies, their history rows
 * and their search-index rows. The BEFORE INSERT trigger on audit_log still checks each
 * prev_hash against the head and moves it, so a batch out of order fails rather than forks; the
 * resource tables' AFTER INSERT triggers accept the copies because the audit_log rows are in the
 * same statement. Nothing is inserted when no head was locked (`WHERE EXISTS (... link)`).
 * Outside a transaction the statement commits on its own, so the head stays locked only while
 * it runs: a batch of reads' events is one round trip and one commit.
 */
const append = (head: string) => `
WITH RECURSIVE
  head AS (${head}),
  ev AS (
    SELECT * FROM json_to_recordset($1::json)
      AS e(n int, id text, recorded text, canonical text, content json, last_updated text)
  ),
  chain (n, prev_hash, hash) AS (
    SELECT 0, NULL::text, head.hash FROM head
    UNION ALL
    SELECT e.n, c.hash, encode(sha256(convert_to(c.hash || chr(10) || e.canonical, 'UTF8')), 'hex')
    FROM chain c JOIN ev e ON e.n = c.n + 1
  ),
  link AS (
    INSERT INTO audit_log (id, recorded, lane, prev_hash, hash, content)
    SELECT e.id, e.recorded::timestamptz, head.lane, c.prev_hash, c.hash, e.content
    FROM ev e JOIN chain c ON c.n = e.n CROSS JOIN head
    ORDER BY e.n
    RETURNING id
  ),
  cur AS (
    INSERT INTO resource_current (resource_type, id, version_id, last_updated, deleted, content)
    SELECT 'AuditEvent', e.id, 1, e.last_updated::timestamptz, false, e.content
    FROM ev e JOIN link ON link.id = e.id
  ),
  hist AS (
    INSERT INTO resource_history (resource_type, id, version_id, last_updated, method, content)
    SELECT 'AuditEvent', e.id, 1, e.last_updated::timestamptz, 'POST', e.content
    FROM ev e JOIN link ON link.id = e.id
  ),
  i1 AS (INSERT INTO idx_string (resource_type, id, code, value, exact)
         SELECT 'AuditEvent', x.id, x.code, x.value, x.exact
         FROM json_to_recordset($2::json) AS x(id text, code text, value text, exact text)
         WHERE EXISTS (SELECT 1 FROM link)),
  i2 AS (INSERT INTO idx_token (resource_type, id, code, system, value, text)
         SELECT 'AuditEvent', x.id, x.code, x.system, x.value, x.text
         FROM json_to_recordset($3::json)
           AS x(id text, code text, system text, value text, text text)
         WHERE EXISTS (SELECT 1 FROM link)),
  i3 AS (INSERT INTO idx_date (resource_type, id, code, start_at, end_at)
         SELECT 'AuditEvent', x.id, x.code, x.start::timestamptz, x."end"::timestamptz
         FROM json_to_recordset($4::json) AS x(id text, code text, start text, "end" text)
         WHERE EXISTS (SELECT 1 FROM link)),
  i4 AS (INSERT INTO idx_reference (resource_type, id, code, target_type, target_id, url)
         SELECT 'AuditEvent', x.id, x.code, x."targetType", x."targetId", x.url
         FROM json_to_recordset($5::json)
           AS x(id text, code text, "targetType" text, "targetId" text, url text)
         WHERE EXISTS (SELECT 1 FROM link)),
  i5 AS (INSERT INTO idx_number (resource_type, id, code, value, system, unit)
         SELECT 'AuditEvent', x.id, x.code, x.value, x.system, x.unit
         FROM json_to_recordset($6::json)
           AS x(id text, code text, value numeric, system text, unit text)
         WHERE EXISTS (SELECT 1 FROM link)),
  i6 AS (INSERT INTO idx_uri (resource_type, id, code, value)
         SELECT 'AuditEvent', x.id, x.code, x.value
         FROM json_to_recordset($7::json) AS x(id text, code text, value text)
         WHERE EXISTS (SELECT 1 FROM link))
SELECT count(*)::int AS appended FROM link`;

/**
 * The first lane, from lane $8 on, that no other transaction holds: appends in different lanes
 * don't wait for each other's commits. Rows this transaction already locked are never skipped,
 * so a transaction that holds a lane never falls through to the query below.
 */
const APPEND_TO_FREE_LANE = append(
  `SELECT lane, hash FROM audit_chain_head ORDER BY (lane + ${AUDIT_LANES} - $8) % ${AUDIT_LANES}
   LIMIT 1 FOR UPDATE SKIP LOCKED`,
);
/**
 * Every lane was busy: queue on lane $8. This transaction holds no lane (see above), so it
 * can't close a cycle of transactions waiting for each other's lanes.
 */
const APPEND_TO_LANE = append('SELECT lane, hash FROM audit_chain_head WHERE lane = $8 FOR UPDATE');

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

const KINDS = ['strings', 'tokens', 'dates', 'references', 'numbers', 'uris'] as const;

/**
 * Appends AuditEvents, as given by storedAuditEvent, to one lane of the hash chain in their
 * order, on `sql`: the caller's transaction when it is one, so the events commit or roll back
 * with the change they record (fail-closed: if the audit can't be written, neither is the
 * change). Stored as ordinary resources too, indexed, so search finds them.
 *
 * Inside a transaction the lane's head row stays locked until it ends: appends to that lane
 * from concurrent transactions skip to another lane, or queue when all are held, which is what
 * keeps each lane's chain from forking. Append last in a transaction, after its other writes,
 * so the lock is held briefly.
 */
export async function appendStoredAudits(
  sql: Sql,
  events: readonly AuditEvent[],
  extract: AuditIndex,
  options: AppendOptions = {},
): Promise<void> {
  if (events.length === 0) return;
  const rows = events.map((event, i) => ({
    n: i + 1,
    id: event.id,
    recorded: event.recorded,
    canonical: canonicalJson(event),
    content: event,
    last_updated: event.meta!.lastUpdated,
  }));
  const index = Object.fromEntries(KINDS.map((kind) => [kind, [] as object[]])) as Record<
    (typeof KINDS)[number],
    object[]
  >;
  for (const event of events) {
    const values = extract(event);
    for (const kind of KINDS)
      for (const row of values[kind]) index[kind].push({ id: event.id, ...row });
  }
  const params = [
    JSON.stringify(rows),
    ...KINDS.map((kind) => JSON.stringify(index[kind])),
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
  extract: AuditIndex,
  options: AppendOptions = {},
): Promise<AuditEvent> {
  const stored = storedAuditEvent(event);
  await appendStoredAudits(sql, [stored], extract, options);
  return stored;
}
