import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { AsyncLocalStorage } from 'node:async_hooks';
import { dirname, join } from 'node:path';
import type { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { ConnectionQueue } from './connection-queue.js';
import { statementName } from './statement-names.js';

/** The one thing SQL code needs: run a parameterised statement, get rows. */
export interface Sql {
  /**
   * On a Postgres server a statement with parameters is prepared under a name of its text, for
   * the first shapes a process meets (statement-names.ts): parsed and planned once per
   * connection. `prepare` names one explicitly (a statement that never changes, such as the
   * audit append), or, `false`, runs it unnamed (SQL built from a client's query, which names
   * its shapes from a budget of its own). PGlite runs every statement unnamed.
   */
  query<R = Record<string, unknown>>(
    text: string,
    params?: unknown[],
    prepare?: string | false,
  ): Promise<R[]>;
  /** Runs a multi-statement script without parameters (migrations). */
  exec(script: string): Promise<void>;
}

/**
 * A Postgres database, served either by a real server (pg) or by embedded PGlite. The SQL is
 * the same for both; only connection handling differs. (PGlite's own node-postgres adapter
 * loses its connection after the first SQL error, so we drive PGlite's native API instead.)
 */
export interface Database extends Sql {
  readonly kind: 'pg' | 'pglite';
  /** Runs `work` in one transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(work: (tx: Sql) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** Every statement with parameters is prepared under a name (its own, or its shape's). */
const statement = (
  text: string,
  values: unknown[] | undefined,
  prepare: string | false | undefined,
) => {
  const name = prepare ?? (values?.length ? statementName(text) : undefined);
  return name ? { name, text, values } : { text, values };
};

/**
 * Postgres refuses to run a prepared statement whose result columns changed since it was
 * prepared on that connection (a migration added a column to a table it selects `*` from, or
 * changed a column's type): during a rolling deploy the new version migrates while the old one
 * still serves. The statement itself is fine; that connection's copy of it is stale.
 */
export const isStalePlan = (err: unknown): boolean =>
  (err as { code?: unknown })?.code === '0A000' &&
  /cached plan must not change result type/.test(String((err as Error).message));

class PgDatabase implements Database {
  readonly kind = 'pg';
  constructor(private readonly pool: pg.Pool) {}

  /**
   * One statement on a pooled connection. A stale prepared statement (isStalePlan) discards the
   * connection, with every statement prepared on it, and runs again, unnamed, on another.
   */
  async query<R>(text: string, params?: unknown[], prepare?: string | false): Promise<R[]> {
    const client = await this.pool.connect();
    let result;
    try {
      result = await client.query(statement(text, params, prepare));
    } catch (err) {
      // pg's own pool.query drops the connection after any error; so does this.
      client.release(err as Error);
      if (!isStalePlan(err)) throw err;
      return (await this.pool.query({ text, values: params })).rows as R[];
    }
    client.release();
    return result.rows as R[];
  }

  async transaction<T>(work: (tx: Sql) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    const tx: Sql = {
      query: async <R>(text: string, params?: unknown[], prepare?: string | false) =>
        (await client.query(statement(text, params, prepare))).rows as R[],
      exec: async (script: string) => {
        await client.query(script);
      },
    };
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const result = await work(tx);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      try {
        await client.query('ROLLBACK');
      } catch (rollbackError) {
        broken = rollbackError as Error; // the connection is unusable: drop it from the pool
      }
      // Its prepared copy of a statement is stale: a new connection prepares it afresh. The
      // transaction isn't run again (its work may have done more than SQL); it fails once.
      if (isStalePlan(err)) broken = err as Error;
      throw err;
    } finally {
      client.release(broken);
    }
  }

  async exec(script: string): Promise<void> {
    await this.pool.query(script);
  }

  async close(): Promise<void> {
    if (!this.pool.ended) await this.pool.end();
  }
}

/** How long a statement may run, and wait for a lock, before Postgres cancels it. */
export interface DatabaseTimeouts {
  /** statement_timeout (57014 query_canceled). */
  statementMs: number;
  /** lock_timeout (55P03 lock_not_available); on PGlite also the wait for its one connection. */
  lockMs: number;
}

export const DEFAULT_DB_TIMEOUTS: DatabaseTimeouts = { statementMs: 30_000, lockMs: 10_000 };

/**
 * The embedded database's one connection, taken in turn (connection-queue.ts). A transaction
 * holds it from BEGIN to COMMIT, so a top-level call made from inside a transaction's own work
 * would wait for that transaction to end, which waits for the call: a hang. The transaction's
 * work runs in an async context of its own (AsyncLocalStorage), and a top-level call from there
 * throws at once instead. Calls from other contexts (concurrent requests) queue as before.
 * PGlite runs statements synchronously in WebAssembly, without the timer signals Postgres
 * cancels with, so statement_timeout can't interrupt one here; the waits in between are bounded.
 */
export class PgliteDatabase implements Database {
  readonly kind = 'pglite';
  private readonly queue = new ConnectionQueue();
  private readonly insideTransaction = new AsyncLocalStorage<{ open: boolean }>();

  constructor(
    private readonly db: PGlite,
    private readonly timeouts: DatabaseTimeouts = DEFAULT_DB_TIMEOUTS,
  ) {}

  /** Runs `work` when the connection is this caller's, refusing a caller that already has it. */
  private async exclusive<T>(what: string, work: () => Promise<T>): Promise<T> {
    if (this.insideTransaction.getStore()?.open) {
      throw new Error(
        `embedded database misuse: ${what} on the top-level database from inside one of its own ` +
          "transactions (PGlite has one connection: it would wait on itself). Use the transaction's handle.",
      );
    }
    const release = await this.queue.acquire(this.timeouts.lockMs);
    try {
      return await work();
    } finally {
      release();
    }
  }

  query<R>(text: string, params?: unknown[]): Promise<R[]> {
    return this.exclusive('query()', async () => (await this.db.query<R>(text, params)).rows);
  }

  transaction<T>(work: (tx: Sql) => Promise<T>): Promise<T> {
    return this.exclusive('transaction()', async () => {
      const state = { open: true };
      try {
        return await this.db.transaction((tx) =>
          this.insideTransaction.run(state, () =>
            work({
              query: async <R>(text: string, params?: unknown[]) =>
                (await tx.query<R>(text, params)).rows,
              exec: async (script: string) => {
                await tx.exec(script);
              },
            }),
          ),
        );
      } finally {
        // Work it started that outlives it (a timer, a cache fill) may use the database then.
        state.open = false;
      }
    });
  }

  exec(script: string): Promise<void> {
    return this.exclusive('exec()', async () => {
      await this.db.exec(script);
    });
  }

  /** Sets the timeouts on the connection; Postgres's defaults (none) otherwise. */
  async applyTimeouts(): Promise<void> {
    await this.exec(
      `SET statement_timeout = ${Math.trunc(this.timeouts.statementMs)}; ` +
        `SET lock_timeout = ${Math.trunc(this.timeouts.lockMs)}`,
    );
  }

  async close(): Promise<void> {
    if (this.db.closed) return;
    // After the work in progress, if it ends in time; a shutdown must not wait on it for ever.
    const release = await this.queue.acquire(this.timeouts.lockMs).catch(() => undefined);
    try {
      if (!this.db.closed) await this.db.close();
    } finally {
      release?.();
    }
  }
}

export interface DatabaseOptions {
  databaseUrl: string | undefined;
  dataDir: string;
  poolSize?: number;
  /** Where the build's embedded-database templates are (pglite-template.ts); dist/ by default. */
  templates?: string;
  /** On every connection; DEFAULT_DB_TIMEOUTS when absent. */
  timeouts?: DatabaseTimeouts;
  /**
   * Embedded only: the buffer pool in MB (Postgres shared_buffers; 128 when absent). PGlite
   * allocates and clears it in WebAssembly memory at every open: 16 instead of 128 took ~40%
   * off the CPU of opening a database (~230 against ~390 ms), which tests do hundreds of times.
   */
  sharedBuffersMb?: number;
}

export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  const timeouts = options.timeouts ?? DEFAULT_DB_TIMEOUTS;
  if (options.databaseUrl) {
    const pool = new pg.Pool({
      connectionString: options.databaseUrl,
      max: options.poolSize ?? 10,
      connectionTimeoutMillis: 5000,
      // Sent in each connection's startup packet: nothing in the server waits forever.
      statement_timeout: timeouts.statementMs,
      lock_timeout: timeouts.lockMs,
    });
    // An idle client that loses its server must not crash the process; the pool replaces it.
    pool.on('error', () => undefined);
    return new PgDatabase(pool);
  }
  const dir = join(options.dataDir, 'pgdata');
  // Loaded only when embedded: a server on Postgres never pays for the WASM build's modules.
  const [{ PGlite }, { btree_gist }, { copyTemplate }] = await Promise.all([
    import('@electric-sql/pglite'),
    import('@electric-sql/pglite/contrib/btree_gist'),
    import('./pglite-template.js'),
  ]);
  // A new database starts as a copy of the build's initialised one, when there is one.
  const fresh = !existsSync(dir) || readdirSync(dir).length === 0;
  if (!fresh || !copyTemplate(dir, options.templates)) mkdirSync(dir, { recursive: true });
  // btree_gist: the workflow's EXCLUDE constraints (no two bookings of one person overlap).
  const db = new PGlite(dir, {
    extensions: { btree_gist },
    ...(await pgliteRuntime()),
    startParams: [
      ...PGlite.defaultStartParams,
      '-c',
      `shared_buffers=${Math.trunc(options.sharedBuffersMb ?? 128)}MB`,
    ],
  });
  await db.waitReady;
  const database = new PgliteDatabase(db, timeouts);
  await database.applyTimeouts();
  return database;
}

let runtime: Promise<{ pgliteWasmModule: WebAssembly.Module; fsBundle: Blob }> | undefined;

/**
 * PGlite's WebAssembly module, compiled, and its file-system bundle, read: once per process.
 * PGlite would otherwise compile the 9 MB module and read the 6 MB bundle for every database
 * it opens — one for a server (two on HealthLake), but dozens in a test process; measured, it
 * took ~20% of the CPU of opening one (~100 of ~500 ms). A module is stateless: each database
 * still gets an instance of its own.
 */
function pgliteRuntime() {
  runtime ??= (async () => {
    const dist = dirname(createRequire(import.meta.url).resolve('@electric-sql/pglite'));
    return {
      pgliteWasmModule: await WebAssembly.compile(readFileSync(join(dist, 'pglite.wasm'))),
      fsBundle: new Blob([readFileSync(join(dist, 'pglite.data'))]),
    };
  })();
  return runtime;
}
