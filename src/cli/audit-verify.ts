/**
 * Checks the audit trail's hash chain from the purge anchor to the head:
 *   npm run audit:verify
 * Prints one line. Exit 0: intact; 1: broken (the line names the first bad link); 2: could not
 * check (bad configuration, database unreachable).
 */
import { verifyChain } from '../audit/verify.js';
import { loadConfig } from '../config.js';
import { openDatabase } from '../db/database.js';
import { migrate } from '../db/migrate.js';

async function main(): Promise<number> {
  const config = loadConfig();
  const db = await openDatabase({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    timeouts: config.dbTimeouts,
  });
  try {
    await migrate(db);
    // One snapshot for the whole walk, so a purge or appends running meanwhile can't look like
    // a break; read-only, so the check itself can't change what it checks.
    const result = await db.transaction(async (tx) => {
      await tx.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY');
      return verifyChain(tx);
    });
    if (result.ok) {
      console.log(`audit chain intact: ${result.count} events verified`);
      return 0;
    }
    const { seq, id, reason } = result.brokenAt;
    console.log(
      `audit chain BROKEN at seq ${seq} (AuditEvent/${id || '?'}): ${reason}; ${result.count} events verified before it`,
    );
    return 1;
  } finally {
    await db.close();
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    console.error(`telefhir audit:verify: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 2;
  },
);
