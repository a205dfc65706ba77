/**
 * Removing resources for good (retention purge, $expunge): every version, the current row, the
 * search-index rows, the MRN a Patient held and an Appointment's booked time, in the caller's
 * transaction. AuditEvents are never erased here (their own purge keeps the chain verifiable).
 * The bytes of erased Binaries are named in the result; deleting them is the caller's job,
 * since a blob store is not part of the database transaction.
 */
import type { Resource } from 'fhir/r4.js';
import type { Sql } from '../../db/database.js';
import { blobKeyOf } from '../../fhir/binary.js';
import { releaseMrns } from '../../identity/mrn.js';

export interface ResourceKey {
  type: string;
  id: string;
}

export interface Erased {
  /** Resources erased, by type. */
  counts: Record<string, number>;
  versions: number;
  blobKeys: string[];
}

const INDEX_TABLES = ['string', 'token', 'date', 'reference', 'number', 'uri'];

export async function eraseResources(sql: Sql, keys: ResourceKey[]): Promise<Erased> {
  const targets = keys.filter((key) => key.type !== 'AuditEvent');
  const counts: Record<string, number> = {};
  for (const key of targets) counts[key.type] = (counts[key.type] ?? 0) + 1;
  if (!targets.length) return { counts, versions: 0, blobKeys: [] };
  const types = targets.map((key) => key.type);
  const ids = targets.map((key) => key.id);
  const match = (alias: string) =>
    `(${alias}.resource_type, ${alias}.id) IN (SELECT * FROM unnest($1::text[], $2::text[]))`;
  const binaries = await sql.query<{ content: Resource | null }>(
    `SELECT h.content FROM resource_history h WHERE h.resource_type = 'Binary' AND ${match('h')}`,
    [types, ids],
  );
  const blobKeys = [...new Set(binaries.map((row) => blobKeyOf(row.content)).filter(Boolean))];
  for (const kind of INDEX_TABLES) {
    await sql.query(`DELETE FROM idx_${kind} x WHERE ${match('x')}`, [types, ids]);
  }
  const [history] = await sql.query<{ n: number }>(
    `WITH gone AS (DELETE FROM resource_history h WHERE ${match('h')} RETURNING 1)
     SELECT count(*)::int AS n FROM gone`,
    [types, ids],
  );
  await sql.query(`DELETE FROM resource_current c WHERE ${match('c')}`, [types, ids]);
  await releaseMrns(
    sql,
    targets.filter((key) => key.type === 'Patient').map((key) => key.id),
  );
  const appointments = targets.filter((key) => key.type === 'Appointment').map((key) => key.id);
  if (appointments.length && (await hasTable(sql, 'appointment_booking'))) {
    await sql.query('DELETE FROM appointment_booking WHERE appointment_id = ANY($1::text[])', [
      appointments,
    ]);
  }
  return { counts, versions: history?.n ?? 0, blobKeys: blobKeys as string[] };
}

/** The workflow tables share the database only in Postgres mode. */
async function hasTable(sql: Sql, name: string): Promise<boolean> {
  const [row] = await sql.query<{ found: boolean }>('SELECT to_regclass($1) IS NOT NULL AS found', [
    name,
  ]);
  return row?.found ?? false;
}
