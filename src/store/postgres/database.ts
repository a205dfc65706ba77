import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { PGlite } from '@electric-sql/pglite';
import pg from 'pg';

/** The one thing SQL code needs: run a parameterised statement, get rows. */
export interface Sql {
  /**
   * `prepare`: a name for a statement that never changes and runs on every request (the audit
   * append): the server parses and plans it once per connection instead of on every call.
   * Never for SQL built from a query's parameters (each text would stay prepared forever).
   */
  query<R = Record<string, unknown>>(
    text: string,
    params?: unknown[],
    prepare?: string,
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

const statement = (text: string, values: unknown[] | undefined, name: string | undefined) =>
  name ? { name, text, values } : { text, values };

class PgDatabase implements Database {
  readonly kind = 'pg';
  constructor(private readonly pool: pg.Pool) {}

  async query<R>(text: string, params?: unknown[], prepare?: string): Promise<R[]> {
    const result = await this.pool.query(statement(text, params, prepare));
    return result.rows as R[];
  }

  async transaction<T>(work: (tx: Sql) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    const tx: Sql = {
      query: async <R>(text: string, params?: unknown[], prepare?: string) =>
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

export class PgliteDatabase implements Database {
  readonly kind = 'pglite';
  constructor(private readonly db: PGlite) {}

  async query<R>(text: string, params?: unknown[]): Promise<R[]> {
    return (await this.db.query<R>(text, params)).rows;
  }

  transaction<T>(work: (tx: Sql) => Promise<T>): Promise<T> {
    return this.db.transaction((tx) =>
      work({
        query: async <R>(text: string, params?: unknown[]) =>
          (await tx.query<R>(text, params)).rows,
        exec: async (script: string) => {
          await tx.exec(script);
        },
      }),
    );
  }

  async exec(script: string): Promise<void> {
    await this.db.exec(script);
  }

  async close(): Promise<void> {
    if (!this.db.closed) await this.db.close();
  }
}

export interface DatabaseOptions {
  databaseUrl: string | undefined;
  dataDir: string;
  poolSize?: number;
  /** Where the build's embedded-database templates are (pglite-template.ts); dist/ by default. */
  templates?: string;
}

export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  if (options.databaseUrl) {
    const pool = new pg.Pool({
      connectionString: options.databaseUrl,
      max: options.poolSize ?? 10,
      connectionTimeoutMillis: 5000,
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
  const db = new PGlite(dir, { extensions: { btree_gist } });
  await db.waitReady;
  return new PgliteDatabase(db);
}
