/**
 * The identity tables where the clinical store's migrations don't run: with HealthLake the MRN
 * sequence and the wrapped SSN data key live in the workflow's database. The store's migration
 * 004 is idempotent, so it is applied as is, under the migrations' advisory lock.
 */
import { readMigrations } from '../db/migrate.js';
import type { Database } from '../db/database.js';

const MIGRATION_LOCK = 4_242_001; // the same lock as migrate.ts: replicas starting together queue

export async function ensureIdentitySchema(db: Database): Promise<void> {
  const migration = readMigrations().find((m) => m.name === 'identity_lifecycle');
  if (!migration) throw new Error('migration 004_identity_lifecycle.sql is missing');
  await db.transaction(async (tx) => {
    // Start-up only: a replica waits its turn behind another's migrations, and a migration on a
    // big table may take longer than any request should (DB_STATEMENT_TIMEOUT_MS).
    await tx.exec('SET LOCAL statement_timeout = 0; SET LOCAL lock_timeout = 0');
    await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await tx.exec(migration.sql);
  });
}
