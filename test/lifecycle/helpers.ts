/** Shared by the lifecycle tests: making resources old, and finding every trace of one. */
import type { Database } from '../../src/db/database.js';

export const HOLD = {
  tag: [{ system: 'http://telefhir.dev/fhir/CodeSystem/lifecycle', code: 'legal-hold' }],
};

/** Moves a resource's last update back by `years` (only the current row decides retention). */
export async function age(db: Database, type: string, id: string, years = 8): Promise<void> {
  await db.query(
    `UPDATE resource_current SET last_updated = now() - make_interval(years => $3)
     WHERE resource_type = $1 AND id = $2`,
    [type, id, years],
  );
}

/** Rows about `type/id` in the resource and index tables (0 = no trace left). */
export async function traces(db: Database, type: string, id: string): Promise<number> {
  let total = 0;
  for (const table of [
    'resource_current',
    'resource_history',
    'idx_string',
    'idx_token',
    'idx_date',
    'idx_reference',
    'idx_number',
    'idx_uri',
  ]) {
    const [row] = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ${table} WHERE resource_type = $1 AND id = $2`,
      [type, id],
    );
    total += row?.n ?? 0;
  }
  return total;
}
