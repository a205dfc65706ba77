import type { Sql } from '../store/postgres/database.js';
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
  content: unknown;
  served: unknown;
}

/** Why a row is not a sound link after `prevHash`, or undefined when it is. */
function fault(row: Link, prevHash: string, first: boolean): string | undefined {
  if (row.prev_hash !== prevHash) {
    return first
      ? 'prev_hash does not match the chain anchor: rows before it were removed'
      : 'prev_hash does not match the previous row: a row between them was removed';
  }
  if (hashEvent(row.prev_hash, canonicalJson(row.content)) !== row.hash) {
    return 'hash does not match the content: the row was altered';
  }
  const content = row.content as { id?: unknown; recorded?: unknown };
  if (content.id !== row.id) return 'the id column differs from the content';
  if (new Date(row.recorded).getTime() !== Date.parse(String(content.recorded))) {
    return 'the recorded column differs from the content';
  }
  if (row.served === null) return 'the AuditEvent served by search and read is missing';
  if (canonicalJson(row.served) !== canonicalJson(row.content)) {
    return 'the AuditEvent served by search and read differs from the chain';
  }
  return undefined;
}

/**
 * Walks audit_log in seq order from the anchor (where the last purge left the chain) to the
 * head, recomputing every hash, and names the first link that doesn't hold. Rows appended
 * after the head was read are left for the next run. Run it in a REPEATABLE READ transaction
 * (as the CLI does) so a concurrent purge can't look like a break.
 */
export async function verifyChain(sql: Sql): Promise<VerifyResult> {
  const [anchor] = await sql.query<{ seq: string; hash: string }>(
    'SELECT seq::text AS seq, hash FROM audit_chain_anchor',
  );
  const [head] = await sql.query<{ seq: string; hash: string }>(
    'SELECT seq::text AS seq, hash FROM audit_chain_head',
  );
  if (!anchor || !head) throw new Error('the audit chain tables are missing: run the migrations');
  let count = 0;
  let prevHash = anchor.hash;
  let last = { seq: anchor.seq, id: '' };
  const early = await sql.query<{ seq: string; id: string }>(
    'SELECT seq::text AS seq, id FROM audit_log WHERE seq <= $1::bigint ORDER BY seq LIMIT 1',
    [anchor.seq],
  );
  if (early[0]) {
    return { ok: false, count, brokenAt: { ...early[0], reason: 'the row predates the anchor' } };
  }
  for (;;) {
    const rows = await sql.query<Link>(
      `SELECT a.seq::text AS seq, a.id, a.recorded, a.prev_hash, a.hash, a.content,
              r.content AS served
       FROM audit_log a
       LEFT JOIN resource_current r ON r.resource_type = 'AuditEvent' AND r.id = a.id
       WHERE a.seq > $1::bigint AND a.seq <= $2::bigint
       ORDER BY a.seq LIMIT ${PAGE_SIZE}`,
      [last.seq, head.seq],
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
        reason: `the chain head (seq ${head.seq}) is not the last row (seq ${last.seq}): rows at the end were removed`,
      },
    };
  }
  return { ok: true, count };
}
