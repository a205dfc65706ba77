import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fromRoot } from '../paths.js';
import type { Database } from './database.js';

/** The schema every store shares: resources, search index, audit trail, identity, lifecycle. */
export const MIGRATIONS_DIR = fromRoot('src', 'db', 'migrations', 'schema');
/** The workflow's tables: bookings, idempotency keys, visits, the outbox. */
export const WORKFLOW_MIGRATIONS = fromRoot('src', 'db', 'migrations', 'workflow');
/** The authorization server's tables: signing keys, clients, users, codes, launches. */
export const OAUTH_MIGRATIONS = fromRoot('src', 'db', 'migrations', 'oauth');

/** Any constant will do: it only has to be the same in every replica. */
const MIGRATION_LOCK = 4_242_001;

interface Migration {
  version: number;
  name: string;
  sql: string;
}

export function readMigrations(dir: string = MIGRATIONS_DIR): Migration[] {
  return readdirSync(dir)
    .filter((file) => /^\d{3}_[a-z0-9_]+\.sql$/.test(file))
    .sort()
    .map((file) => ({
      version: Number(file.slice(0, 3)),
      name: file.slice(4, -4),
      sql: readFileSync(join(dir, file), 'utf8'),
    }));
}

/**
 * Applies the numbered migrations not yet applied, all in one transaction under an advisory
 * lock, so replicas starting together neither race nor half-migrate. Each set of migrations
 * (the store's, the workflow's) keeps its own ledger table.
 * Returns the versions it applied.
 */
export async function migrate(
  db: Database,
  dir: string = MIGRATIONS_DIR,
  ledger: 'schema_migrations' | 'workflow_migrations' | 'oauth_migrations' = 'schema_migrations',
): Promise<number[]> {
  const migrations = readMigrations(dir);
  return db.transaction(async (tx) => {
    // Start-up only: a replica waits its turn behind another's migrations, and a migration on a
    // big table may take longer than any request should (DB_STATEMENT_TIMEOUT_MS).
    await tx.exec('SET LOCAL statement_timeout = 0; SET LOCAL lock_timeout = 0');
    await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await tx.exec(`CREATE TABLE IF NOT EXISTS ${ledger} (
      version integer PRIMARY KEY,
      name text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
    const rows = await tx.query<{ version: number }>(`SELECT version FROM ${ledger}`);
    const applied = new Set(rows.map((row) => row.version));
    const done: number[] = [];
    for (const migration of migrations) {
      if (applied.has(migration.version)) continue;
      await tx.exec(migration.sql);
      await tx.query(`INSERT INTO ${ledger} (version, name) VALUES ($1, $2)`, [
        migration.version,
        migration.name,
      ]);
      done.push(migration.version);
    }
    return done;
  });
}
