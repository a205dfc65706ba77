import type { AuditEvent } from 'fhir/r4.js';
import type { Database, Sql } from '../db/database.js';
import { ENTITY_TYPE, OBJECT_ROLE, TELEFHIR_SOURCE } from './event.js';
import { appendAudit } from './writer.js';

export const DCM = 'http://dicom.nema.org/resources/ontology/DCM';

export interface PurgeOptions {
  dryRun: boolean;
  /** Who ran the purge (a user name): the purge's own AuditEvent names them. */
  actor: string;
}

export interface PurgeResult {
  purged: number;
  /** The oldest `recorded` among the events kept (after a purge: at least its own event). */
  oldestKept?: string;
}

/**
 * The purge's own record: DICOM "Audit Log Used" (110101) with action D, the audit log as the
 * entity (a system object in the role "Security Resource"), details saying how much went and
 * where the chain now starts. No REST interaction fits, so type is not `rest`.
 */
function purgeEvent(actor: string, olderThan: Date, purged: number, anchors: Anchor[]): AuditEvent {
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
        what: { identifier: { value: 'audit_event' } },
        type: { system: ENTITY_TYPE, code: '2', display: 'System Object' },
        role: { system: OBJECT_ROLE, code: '13', display: 'Security Resource' },
        name: 'audit trail retention purge',
        detail: [
          { type: 'purged-count', valueString: String(purged) },
          { type: 'recorded-before', valueString: olderThan.toISOString() },
          // Where each lane's chain now starts: what a verifier holding this event expects.
          ...anchors.map((anchor) => ({
            type: `anchor-lane-${anchor.lane}`,
            valueString: `${anchor.seq}:${anchor.hash}`,
          })),
        ],
      },
    ],
  };
}

interface Anchor {
  lane: number;
  seq: string;
  hash: string;
}

/**
 * The partitions wholly before the cutoff whose every row is at or below its lane's (already
 * moved) anchor: dropping them removes only chain prefix. A partition that also holds a row
 * to keep (an older event behind a newer one in its lane) stays for the row-wise DELETE.
 */
const DROPPABLE = `
SELECT c.relname AS name
FROM pg_inherits i
JOIN pg_class c ON c.oid = i.inhrelid
JOIN pg_class p ON p.oid = i.inhparent
WHERE p.oid = 'audit_event'::regclass AND c.relispartition
  AND pg_get_expr(c.relpartbound, c.oid) <> 'DEFAULT'
  AND c.relname ~ '^audit_event_[0-9]{4}_[0-9]{2}$'
  AND (to_date(substring(c.relname FROM '[0-9]{4}_[0-9]{2}$'), 'YYYY_MM')::timestamp
       + interval '1 month') AT TIME ZONE 'UTC' <= $1::timestamptz
ORDER BY c.relname`;

/** Whether every row of a partition is chain prefix. The name comes from DROPPABLE, quoted. */
const allPrefix = (name: string) => `
SELECT NOT EXISTS (SELECT 1 FROM ${name} e JOIN audit_chain_anchor an ON an.lane = e.lane
                   WHERE e.seq > an.seq) AS ok, (SELECT count(*)::int FROM ${name}) AS rows`;

/**
 * Removes what is left of each lane's prefix up to its (already moved) anchor, row by row: the
 * rows of partly purged months and of the default partition. The triggers check that only and
 * exactly the prefix went.
 */
const DELETE_PREFIX = `
WITH gone AS (DELETE FROM audit_event a USING audit_chain_anchor an
              WHERE a.lane = an.lane AND a.seq <= an.seq RETURNING 1)
SELECT count(*)::int AS purged FROM gone`;

const quoted = (name: string) => `"${name.replace(/"/g, '""')}"`;

/** Drops the partitions wholly in the prefix; returns how many rows went with them. */
async function dropPartitions(sql: Sql, olderThan: Date): Promise<number> {
  let dropped = 0;
  const partitions = await sql.query<{ name: string }>(DROPPABLE, [olderThan.toISOString()]);
  for (const { name } of partitions) {
    const [check] = await sql.query<{ ok: boolean; rows: number }>(allPrefix(quoted(name)));
    if (!check?.ok) continue;
    await sql.query(`ALTER TABLE audit_event DETACH PARTITION ${quoted(name)}`);
    await sql.query(`DROP TABLE ${quoted(name)}`);
    dropped += check.rows;
  }
  return dropped;
}

interface Boundary {
  lane: number;
  purged: number;
  /** The last row of the lane to go: its new anchor. */
  seq: string | null;
  hash: string | null;
  kept_recorded: Date | string | null;
}

/**
 * Per lane, the prefix recorded before the cutoff: it ends where the lane's first newer event
 * stands.
 */
const BOUNDARY = `
WITH
  kept AS (
    SELECT h.lane, (SELECT min(seq) FROM audit_event a
                    WHERE a.lane = h.lane AND a.recorded >= $1::timestamptz) AS seq
    FROM audit_chain_head h
  ),
  doomed AS (
    SELECT kept.lane, kept.seq AS kept_seq, count(a.seq)::int AS purged, max(a.seq) AS last
    FROM kept LEFT JOIN audit_event a
      ON a.lane = kept.lane AND a.seq < coalesce(kept.seq, 9223372036854775807)
    GROUP BY kept.lane, kept.seq
  )
SELECT d.lane, d.purged, d.last::text AS seq, l.hash,
       (SELECT min(recorded) FROM audit_event k WHERE k.lane = d.lane AND k.seq >= d.kept_seq)
         AS kept_recorded
FROM doomed d
LEFT JOIN audit_event l ON l.lane = d.lane AND l.seq = d.last
ORDER BY d.lane`;

async function oldestKept(sql: Sql): Promise<string | undefined> {
  const [row] = await sql.query<{ recorded: Date | string | null }>(
    'SELECT min(recorded) AS recorded FROM audit_event',
  );
  return row?.recorded ? new Date(row.recorded).toISOString() : undefined;
}

/**
 * Deletes the audit events recorded before `olderThan`, in one transaction, and records that it
 * did: whole monthly partitions are detached and dropped, what is left of the prefix is deleted
 * row by row. Only a prefix of the chain can go (the database refuses anything else), so it stops at
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
      // Holding every lane's head keeps appenders out until the purge commits.
      await sql.query('SELECT 1 FROM audit_chain_head FOR UPDATE');
    }
    const lanes = await sql.query<Boundary>(BOUNDARY, [olderThan.toISOString()]);
    const purged = lanes.reduce((sum, lane) => sum + lane.purged, 0);
    if (opts.dryRun) {
      const kept = lanes
        .map((lane) => lane.kept_recorded)
        .filter((recorded) => recorded !== null)
        .map((recorded) => new Date(recorded).toISOString())
        .sort()[0];
      return { purged, oldestKept: kept };
    }
    for (const lane of lanes) {
      if (!lane.seq || !lane.hash) continue;
      await sql.query(
        `UPDATE audit_chain_anchor SET seq = $2::bigint, hash = $3, purged_at = now()
         WHERE lane = $1`,
        [lane.lane, lane.seq, lane.hash],
      );
    }
    if (purged > 0) {
      const dropped = await dropPartitions(sql, olderThan);
      const [done] = await sql.query<{ purged: number }>(DELETE_PREFIX);
      if (dropped + (done?.purged ?? 0) !== purged) {
        throw new Error('the audit log changed during the purge');
      }
    }
    const anchors = await sql.query<Anchor>(
      'SELECT lane, seq::text AS seq, hash FROM audit_chain_anchor ORDER BY lane',
    );
    await appendAudit(sql, purgeEvent(opts.actor, olderThan, purged, anchors));
    return { purged, oldestKept: await oldestKept(sql) };
  });
}
