/**
 * The retention purge (src/lifecycle/retention.ts):
 *   npm run retention:purge -- [--dry-run]
 * Policy from RETENTION_DEFAULT_DAYS, RETENTION_POLICY and AUDIT_RETENTION_DAYS. Prints one line
 * per resource it removes (or would), then the totals; exits 1 on failure.
 */
import { userInfo } from 'node:os';
import { parseArgs } from 'node:util';
import { openBlobStore } from '../blob/open.js';
import { loadConfig } from '../config.js';
import { describeRun, runRetention } from '../lifecycle/retention.js';
import { retentionPolicy } from '../lifecycle/retention-policy.js';
import { openDatabase } from '../db/database.js';
import { migrate } from '../db/migrate.js';

function actor(): string {
  try {
    return `cli:${userInfo().username}`;
  } catch {
    return `cli:${process.env.USER ?? 'unknown'}`;
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { 'dry-run': { type: 'boolean', default: false } } });
  const config = loadConfig();
  const policy = retentionPolicy();
  const dryRun = values['dry-run'];
  const db = await openDatabase({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    timeouts: config.dbTimeouts,
  });
  const blobs = await openBlobStore(config);
  try {
    await migrate(db);
    const run = await runRetention(db, policy, { dryRun, actor: actor(), blobs });
    for (const line of describeRun(run, dryRun)) console.log(line);
    if (run.blobFailures.length) process.exitCode = 1;
  } finally {
    await blobs.close();
    await db.close();
  }
}

main().catch((err) => {
  console.error(`telefhir retention:purge: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
