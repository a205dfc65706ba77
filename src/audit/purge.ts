import type { AuditEvent } from 'fhir/r4.js';
import type { Database, Sql } from '../store/postgres/database.js';
import { searchIndexer } from '../store/postgres/search-indexer.js';
import { ENTITY_TYPE, OBJECT_ROLE, TELEFHIR_SOURCE } from './event.js';
import { appendAudit, type AuditIndex } from './writer.js';

export const DCM = 'http://dicom.nema.org/resources/ontology/DCM';

export interface PurgeOptions {
  dryRun: boolean;
  /** Who ran the purge (a user name): the purge's own AuditEvent names them. */
  actor: string;
  /** Indexes the purge's AuditEvent; default: the search indexer without a base URL. */
  index?: AuditIndex;
}

export interface PurgeResult {
  purged: number;
  /** `recorded` of the first event left in the chain (after a purge: at least its own event). */
  oldestKept?: string;
}

/**
 * The purge's own record: DICOM "Audit Log Used" (110101) with action D, the audit log as the
 * entity (a system object in the role "Security Resource"), details saying how much went and
 * where the chain now starts. No REST interaction fits, so type is not `rest`.
 */
function purgeEvent(actor: string, olderThan: Date, purged: number, anchor: Anchor): AuditEvent {
  return {
    resourceType: 'AuditEvent',
    type: { system: DCM, code: '110101', display: 'Audit Log Used' },
    action: 'D',
    recorded: new Date().toISOString(),
    outcome: '0',
    agent: [{ who: { identifier: { value: actor } }, requestor: true }],
    source: TELEFHIR_SOURCE,
    entity: [
      {
        what: { identifier: { value: 'audit_log' } },
        type: { system: ENTITY_TYPE, code: '2', display: 'System Object' },
        role: { system: OBJECT_ROLE, code: '13', display: 'Security Resource' },
        name: 'audit trail retention purge',
        detail: [
          { type: 'purged-count', valueString: String(purged) },
          { type: 'recorded-before', valueString: olderThan.toISOString() },
          { type: 'anchor-seq', valueString: anchor.seq },
          { type: 'anchor-hash', valueString: anchor.hash },
        ],
      },
    ],
  };
}

interface Anchor {
  seq: string;
  hash: string;
}

/**
 * Removes every row of one statement: the links, their served copies, history and index rows.
 * The audit_log trigger checks that exactly the prefix up to the (already moved) anchor went.
 */
const DELETE_PREFIX = `
WITH
  gone AS (DELETE FROM audit_log WHERE seq <= $1::bigint RETURNING id),
  c AS (DELETE FROM resource_current r USING gone
        WHERE r.resource_type = 'AuditEvent' AND r.id = gone.id),
  h AS (DELETE FROM resource_history r USING gone
        WHERE r.resource_type = 'AuditEvent' AND r.id = gone.id),
  ${['string', 'token', 'date', 'reference', 'number', 'uri']
    .map(
      (kind) => `i_${kind} AS (DELETE FROM idx_${kind} x USING gone
        WHERE x.resource_type = 'AuditEvent' AND x.id = gone.id)`,
    )
    .join(',\n  ')}
SELECT count(*)::int AS purged FROM gone`;

interface Boundary {
  purged: number;
  /** The last row to go: the new anchor. */
  seq: string | null;
  hash: string | null;
  kept_recorded: Date | string | null;
}

/** The prefix recorded before the cutoff: it ends where the first newer event stands. */
const BOUNDARY = `
WITH
  kept AS (SELECT min(seq) AS seq FROM audit_log WHERE recorded >= $1::timestamptz),
  doomed AS (
    SELECT count(*)::int AS purged, max(a.seq) AS last
    FROM audit_log a, kept
    WHERE a.seq < coalesce(kept.seq, 9223372036854775807)
  )
SELECT doomed.purged, doomed.last::text AS seq, l.hash, k.recorded AS kept_recorded
FROM doomed CROSS JOIN kept
LEFT JOIN audit_log l ON l.seq = doomed.last
LEFT JOIN audit_log k ON k.seq = kept.seq`;

async function oldestKept(sql: Sql): Promise<string | undefined> {
  const [row] = await sql.query<{ recorded: Date | string }>(
    'SELECT recorded FROM audit_log ORDER BY seq LIMIT 1',
  );
  return row ? new Date(row.recorded).toISOString() : undefined;
}

/**
 * Deletes the audit events recorded before `olderThan`, in one transaction, and records that it
 * did. Only a prefix of the chain can go (the database refuses anything else), so it stops at
 * the first event recorded at or after the cutoff: an older event behind a newer one — clocks
 * of replicas differ a little — waits for the next run. The last purged link becomes the anchor
 * verify starts from. A dry run counts and changes nothing.
 */
export async function purgeAudit(
  db: Database,
  olderThan: Date,
  opts: PurgeOptions,
): Promise<PurgeResult> {
  return db.transaction(async (sql) => {
    if (!opts.dryRun) {
      // The escape hatch of 003_audit.sql, local to this transaction.
      await sql.query("SET LOCAL telefhir.audit_purge = 'on'");
      // Holding the head keeps appenders out until the purge commits.
      await sql.query('SELECT 1 FROM audit_chain_head FOR UPDATE');
    }
    const [boundary] = await sql.query<Boundary>(BOUNDARY, [olderThan.toISOString()]);
    const purged = boundary?.purged ?? 0;
    if (opts.dryRun) {
      const kept = boundary?.kept_recorded;
      return { purged, oldestKept: kept ? new Date(kept).toISOString() : undefined };
    }
    let anchor: Anchor;
    if (boundary?.seq && boundary.hash) {
      anchor = { seq: boundary.seq, hash: boundary.hash };
      await sql.query(
        'UPDATE audit_chain_anchor SET seq = $1::bigint, hash = $2, purged_at = now()',
        [anchor.seq, anchor.hash],
      );
      const [done] = await sql.query<{ purged: number }>(DELETE_PREFIX, [anchor.seq]);
      if (done?.purged !== purged) throw new Error('the audit log changed during the purge');
    } else {
      const [current] = await sql.query<Anchor>(
        'SELECT seq::text AS seq, hash FROM audit_chain_anchor',
      );
      if (!current) throw new Error('audit_chain_anchor is missing: run the migrations');
      anchor = current;
    }
    const extract = opts.index ?? searchIndexer().extract;
    await appendAudit(sql, purgeEvent(opts.actor, olderThan, purged, anchor), extract);
    return { purged, oldestKept: await oldestKept(sql) };
  });
}
