import type { Config } from '../../config.js';
import { openDatabase } from '../../db/database.js';
import { migrate } from '../../db/migrate.js';
import { PostgresStore } from './postgres-store.js';
import type { WriteHook } from '../write-hook.js';
import { searchIndexer } from './search-indexer.js';
import { ensureAuditPartitions } from '../../audit/partitions.js';

/** Secrets the REST layer uses, read at start-up so no first read happens inside a transaction. */
export const PRELOADED_SECRETS = ['paging'];

/** A migrated Postgres store: the server given by DATABASE_URL, or PGlite in DATA_DIR. */
export async function openPostgresStore(
  config: Pick<Config, 'databaseUrl' | 'dataDir' | 'baseUrl'> &
    Partial<Pick<Config, 'dbTimeouts' | 'embeddedSharedBuffersMb'>>,
  hooks: WriteHook[] = [],
): Promise<PostgresStore> {
  const db = await openDatabase({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    timeouts: config.dbTimeouts,
    sharedBuffersMb: config.embeddedSharedBuffersMb,
  });
  try {
    await migrate(db);
    await ensureAuditPartitions(db);
  } catch (err) {
    await db.close();
    throw err;
  }
  const store = new PostgresStore(db, db, false, searchIndexer(config.baseUrl), undefined, hooks);
  store.partitions.ensured();
  for (const name of PRELOADED_SECRETS) await store.sharedSecret(name);
  return store;
}
