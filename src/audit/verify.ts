import type { Sql } from '../db/database.js';
import { canonicalJson, hashEvent } from './chain.js';

/** Rows per query: memory stays flat however long the chain is. */
const PAGE_SIZE = 1000;

export type VerifyResult =
  | { ok: true; count: number }
  | { ok: false; count: number; brokenAt: { seq: string; id: string; reason: string } };

interface Link {
  seq: string;
  id: string;
  recorded: Date | string;
  prev_hash: string;
  hash: string;
  json: string;
  /** Whether the searched columns are what audit_event_index derives from the JSON. */
  columns_match: boolean;
}

/** Why a row is not a sound link after `prevHash`, or undefined when it is. */
function fault(row: Link, prevHash: string, first: boolean): string | undefined {
  if (row.prev_hash !== prevHash) {
    return first
      ? 'prev_hash does not match the chain anchor: rows before it were removed'
      : 'prev_hash does not match the previous row: a row between them was removed';
  }
  let content: { id?: unknown; recorded?: unknown };
  try {
    content = JSON.parse(row.json) as typeof content;
  } catch {
    return 'the JSON does not parse: the row was altered';
  }
  if (hashEvent(row.prev_hash, canonicalJson(content)) !== row.hash) {
    return 'hash does not match the content: the row was altered';
  }
  if (content.id !== row.id) return 'the id column differs from the content';
  if (new Date(row.recorded).getTime() !== Date.parse(String(content.recorded))) {
    return 'the recorded column differs from the content';
  }
  if (!row.columns_match) {
    return 'the searched columns differ from the content: search would miss or misplace it';
  }
  return undefined;
}

interface LaneEnd {
  lane: number;
  seq: string;
  hash: string;
}

/**
 * Walks each lane of audit_event (008_audit_event.sql) in seq order from its anchor (where the
 * last purge left it) to its head, recomputing every hash, and names the first link that
 * doesn't hold. Rows appended after the heads were read are left for the next run. Run it in a
 * REPEATABLE READ transaction (as the CLI does) so a concurrent purge can't look like a break.
 */
export async function verifyChain(sql: Sql): Promise<VerifyResult> {
  const anchors = await sql.query<LaneEnd>(
    'SELECT lane, seq::text AS seq, hash FROM audit_chain_anchor ORDER BY lane',
  );
  const heads = await sql.query<LaneEnd>(
    'SELECT lane, seq::text AS seq, hash FROM audit_chain_head ORDER BY lane',
  );
  if (anchors.length === 0 || heads.length !== anchors.length) {
    throw new Error('the audit chain tables are missing: run the migrations');
  }
  const stray = await sql.query<{ seq: string; id: string }>(
    `SELECT seq::text AS seq, id FROM audit_event
     WHERE lane NOT IN (SELECT lane FROM audit_chain_head) ORDER BY seq LIMIT 1`,
  );
  if (stray[0]) {
    return { ok: false, count: 0, brokenAt: { ...stray[0], reason: 'the row is in no lane' } };
  }
  let count = 0;
  for (const anchor of anchors) {
    const head = heads.find((h) => h.lane === anchor.lane);
    if (!head) throw new Error(`audit lane ${anchor.lane} has no head: run the migrations`);
    const result = await verifyLane(sql, anchor, head);
    count += result.count;
    if (!result.ok) return { ...result, count };
  }
  return { ok: true, count };
}

async function verifyLane(sql: Sql, anchor: LaneEnd, head: LaneEnd): Promise<VerifyResult> {
  let count = 0;
  let prevHash = anchor.hash;
  let last = { seq: anchor.seq, id: '' };
  const early = await sql.query<{ seq: string; id: string }>(
    `SELECT seq::text AS seq, id FROM audit_event WHERE lane = $1 AND seq <= $2::bigint
     ORDER BY seq LIMIT 1`,
    [anchor.lane, anchor.seq],
  );
  if (early[0]) {
    return { ok: false, count, brokenAt: { ...early[0], reason: 'the row predates the anchor' } };
  }
  for (;;) {
    const rows = await sql.query<Link>(
      `SELECT a.seq::text AS seq, a.id, a.recorded, a.prev_hash, a.hash, a.json,
              coalesce((x.last_updated, x.patient, x.agent, x.entity, x.type, x.subtype, x.action,
                        x.outcome, x.purpose_of_use, x.request_id, x.altid, x.address)
                IS NOT DISTINCT FROM (a.last_updated, a.patient, a.agent, a.entity, a.type,
                  a.subtype, a.action, a.outcome, a.purpose_of_use, a.request_id, a.altid,
                  a.address), false)
                AS columns_match
       FROM audit_event a
       LEFT JOIN LATERAL audit_event_index(
         CASE WHEN a.json ~ '^\\s*\\{' THEN a.json::jsonb END) x ON true
       WHERE a.lane = $1 AND a.seq > $2::bigint AND a.seq <= $3::bigint
       ORDER BY a.seq LIMIT ${PAGE_SIZE}`,
      [anchor.lane, last.seq, head.seq],
    );
    for (const row of rows) {
      const reason = fault(row, prevHash, count === 0);
      if (reason) return { ok: false, count, brokenAt: { seq: row.seq, id: row.id, reason } };
      prevHash = row.hash;
      last = { seq: row.seq, id: row.id };
      count++;
    }
    if (rows.length < PAGE_SIZE) break;
  }
  if (last.seq !== head.seq || prevHash !== head.hash) {
    return {
      ok: false,
      count,
      brokenAt: {
        seq: head.seq,
        id: last.id,
        reason: `the head of lane ${head.lane} (seq ${head.seq}) is not its last row (seq ${last.seq}): rows at the end were removed`,
      },
    };
  }
  return { ok: true, count };
}
