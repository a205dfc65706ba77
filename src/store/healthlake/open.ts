import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../../config.js';
import type { Config } from '../../config.js';
import { openDatabase } from '../../db/database.js';
import { migrate, WORKFLOW_MIGRATIONS } from '../../db/migrate.js';
import { PRELOADED_SECRETS } from '../postgres/open.js';
import { ensureAuditPartitions } from '../../audit/partitions.js';
import { PostgresStore } from '../postgres/postgres-store.js';
import type { WriteHook } from '../write-hook.js';
import { searchIndexer } from '../postgres/search-indexer.js';
import { HealthLakeClient } from './client.js';
import { controlPlane } from './control-plane.js';
import { HealthLakeStore } from './healthlake-store.js';
import { healthLakeSigner, type Credentials } from './signer.js';
import { Upstream } from './upstream.js';

export interface HealthLakeOptions {
  /** Instead of the standard provider chain (tests). */
  credentials?: Credentials;
  /** Searches whose query is longer go as POST _search with a form body. */
  postSearchOver?: number;
  onAuditLost?: (err: unknown) => void;
}

/**
 * A change HealthLake applied whose AuditEvent did not commit: said loudly on stderr, as one
 * JSON line, with the error's name and code only (a database error's message can quote values).
 */
function logAuditLost(err: unknown) {
  const { name, code } = (err ?? {}) as { name?: unknown; code?: unknown };
  process.stderr.write(
    `${JSON.stringify({
      level: 50,
      time: Date.now(),
      msg: 'healthlake: a write reached HealthLake but its AuditEvent did not commit; re-recording',
      err: { name: String(name ?? 'Error'), code: code === undefined ? undefined : String(code) },
    })}\n`,
  );
}

/**
 * Before this version, the embedded HealthLake setup kept the workflow (slot ledger, outbox,
 * OAuth clients and keys, the SSN data key, reminders) in DATA_DIR/pgdata and only the audit
 * trail in DATA_DIR/healthlake. Now both live in DATA_DIR/healthlake, and DATA_DIR/pgdata would
 * be silently left behind: undelivered outbox rows never sent, sealed SSNs unreadable under a
 * new data key. So a start on such a DATA_DIR (or one the embedded Postgres store used) stops
 * and says why, instead of losing them.
 */
function refuseEarlierLayout(dataDir: string) {
  if (existsSync(join(dataDir, 'pgdata', 'PG_VERSION'))) {
    throw new ConfigError(
      `DATA_DIR (${dataDir}) holds an embedded database in pgdata/, from FHIR_STORE=postgres or ` +
        'an earlier telefhir with FHIR_STORE=healthlake; with HealthLake the embedded database is ' +
        'healthlake/ alone. Use another DATA_DIR, or DATABASE_URL, and keep pgdata/ (its keys ' +
        'unseal SSNs already written to HealthLake).',
    );
  }
}

/**
 * The HealthLake store: the data store must answer DescribeFHIRDatastore as ACTIVE before we
 * serve. Its Postgres side is DATABASE_URL (or PGlite in DATA_DIR/healthlake); the workflow
 * keeps its tables in the same database (app.ts), so write hooks and the workflow meet.
 */
export async function openHealthLakeStore(
  config: Pick<Config, 'databaseUrl' | 'dataDir' | 'baseUrl' | 'healthlake'> &
    Partial<Pick<Config, 'dbTimeouts' | 'embeddedSharedBuffersMb'>>,
  hooks: WriteHook[] = [],
  options: HealthLakeOptions = {},
): Promise<HealthLakeStore> {
  const hl = config.healthlake;
  if (!hl) throw new Error('FHIR_STORE=healthlake without a healthlake configuration');
  const control = controlPlane({
    region: hl.region,
    datastoreId: hl.datastoreId,
    timeoutMs: hl.timeoutMs,
    ...(options.credentials ? { credentials: options.credentials } : {}),
  });
  if (!config.databaseUrl) refuseEarlierLayout(config.dataDir);
  const db = await openDatabase({
    databaseUrl: config.databaseUrl,
    dataDir: config.databaseUrl ? config.dataDir : join(config.dataDir, 'healthlake'),
    timeouts: config.dbTimeouts,
    sharedBuffersMb: config.embeddedSharedBuffersMb,
  });
  try {
    await control.checkActive();
    await migrate(db);
    await migrate(db, WORKFLOW_MIGRATIONS, 'workflow_migrations');
    await ensureAuditPartitions(db);
    const local = new PostgresStore(db, db, false, searchIndexer(config.baseUrl));
    local.partitions.ensured();
    for (const name of PRELOADED_SECRETS) await local.sharedSecret(name);
    const client = new HealthLakeClient(hl, healthLakeSigner(hl.region, options.credentials));
    return new HealthLakeStore({
      upstream: new Upstream(client, options.postSearchOver ?? 4_000),
      db,
      local,
      hooks,
      baseUrl: () => config.baseUrl,
      pageTokenKey: hl.pageTokenKey,
      checkActive: () => control.checkActive(),
      closeControl: () => control.close(),
      onAuditLost: options.onAuditLost ?? logAuditLost,
    });
  } catch (err) {
    control.close();
    await db.close();
    throw err;
  }
}
