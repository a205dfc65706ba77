import type { Config } from '../config.js';
import { openDatabase, type Database, type Sql } from '../db/database.js';
import { migrate, WORKFLOW_MIGRATIONS } from '../db/migrate.js';
import { PostgresStore } from '../store/postgres/postgres-store.js';
import type { WriteHook } from '../store/write-hook.js';
import { deliverOutbox, OutboxStore } from './outbox.js';
import type { FhirStore } from '../store/store.js';

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

export interface WorkflowOptions {
  /** Whether the store shares the workflow's database; by default, when it is Postgres. */
  shared?: boolean;
  /** Rules that follow writes (the appointment ledger); run on the workflow side when not shared. */
  hooks?: readonly WriteHook[];
  /** How often undelivered outbox rows are retried, in ms. */
  retryMs?: number;
  onDeliveryError?: (error: unknown) => void;
  /**
   * The database to keep the workflow tables in when the store is not Postgres but has one of
   * its own (the HealthLake store's local tables): one database, so everything a write hook
   * records lands where the workflow reads it. Its owner, the store, closes it.
   */
  db?: Database;
}

/**
 * Opens (and migrates) the workflow database: the store's own when the store is Postgres (or
 * `options.db`, the HealthLake store's local database), else the one DATABASE_URL (or DATA_DIR's
 * PGlite) names. Then an operation's FHIR writes go
 * through the outbox (outbox.ts), delivered after it commits and retried until the store has
 * them.
 */
export async function openWorkflow(
  store: FhirStore,
  config: Pick<Config, 'databaseUrl' | 'dataDir'> &
    Partial<Pick<Config, 'dbTimeouts' | 'embeddedSharedBuffersMb'>>,
  options: WorkflowOptions = {},
): Promise<Workflow> {
  const shared = options.shared ?? store instanceof PostgresStore;
  if (shared && store instanceof PostgresStore) {
    const db = store.database;
    await migrate(db, WORKFLOW_MIGRATIONS, 'workflow_migrations');
    return {
      db,
      run: (work) => db.transaction((sql) => work({ sql, store: store.bind(sql) })),
      close: async () => undefined, // the store closes its database
    };
  }
  const db =
    options.db ??
    (await openDatabase({
      databaseUrl: config.databaseUrl,
      dataDir: config.dataDir,
      timeouts: config.dbTimeouts,
      sharedBuffersMb: config.embeddedSharedBuffersMb,
    }));
  await migrate(db, WORKFLOW_MIGRATIONS, 'workflow_migrations');
  const hooks = options.hooks ?? [];
  const pass = () =>
    deliverOutbox(db, store).then(
      () => undefined,
      (error: unknown) => options.onDeliveryError?.(error),
    );
  // One pass at a time in this process. A pass the timer started may hold (under its lease) the
  // rows an operation just committed, and a pass that found them held would return before they
  // are delivered: so an operation's pass waits for the running one, then goes.
  let running: Promise<void> | undefined;
  const deliver = (): Promise<void> => {
    const next = (running ?? Promise.resolve()).then(pass);
    running = next;
    void next.finally(() => {
      if (running === next) running = undefined;
    });
    return next;
  };
  const timer = setInterval(() => {
    if (!running) void deliver();
  }, options.retryMs ?? 2000);
  timer.unref();
  return {
    db,
    run: async (work) => {
      const result = await db.transaction((sql) =>
        work({ sql, store: new OutboxStore(sql, store, hooks) }),
      );
      await deliver(); // usually delivered before the response; if not, the timer retries
      return result;
    },
    close: async () => {
      clearInterval(timer);
      await running; // a pass in flight finishes on an open database
      if (!options.db) await db.close();
    },
  };
}
