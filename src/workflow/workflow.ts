import type { Config } from '../config.js';
import { fromRoot } from '../paths.js';
import { openDatabase, type Database, type Sql } from '../store/postgres/database.js';
import { migrate } from '../store/postgres/migrate.js';
import { PostgresStore } from '../store/postgres/postgres-store.js';
import type { FhirStore } from '../store/store.js';

export const WORKFLOW_MIGRATIONS = fromRoot('src', 'workflow', 'migrations');

/** What an operation works with inside one unit of work. */
export interface WorkflowTx {
  /** The workflow tables. */
  sql: Sql;
  /** The clinical store; in the same transaction when it shares the database. */
  store: FhirStore;
}

/**
 * The workflow tables and how their transactions meet the clinical store's. With the Postgres
 * store they share one database, so an operation's workflow rows and FHIR resources commit
 * together or not at all.
 */
export interface Workflow {
  readonly db: Database;
  run<T>(work: (tx: WorkflowTx) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/**
 * Opens (and migrates) the workflow database: the store's own when the store is Postgres,
 * else the one DATABASE_URL (or DATA_DIR's PGlite) names.
 */
export async function openWorkflow(
  store: FhirStore,
  config: Pick<Config, 'databaseUrl' | 'dataDir'>,
): Promise<Workflow> {
  if (store instanceof PostgresStore) {
    const db = store.database;
    await migrate(db, WORKFLOW_MIGRATIONS, 'workflow_migrations');
    return {
      db,
      run: (work) => db.transaction((sql) => work({ sql, store: store.bind(sql) })),
      close: async () => undefined, // the store closes its database
    };
  }
  const db = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  await migrate(db, WORKFLOW_MIGRATIONS, 'workflow_migrations');
  // No shared transaction: the store's writes happen when the workflow's have committed.
  // TODO(issue 9): an outbox makes those writes reliable across a crash in between.
  return {
    db,
    run: (work) => db.transaction((sql) => work({ sql, store })),
    close: () => db.close(),
  };
}
