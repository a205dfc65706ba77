/**
 * Deletes audit events older than the retention period and records that it did:
 *   npm run audit:purge -- [--dry-run] [--older-than-days N]
 * N defaults to AUDIT_RETENTION_DAYS, itself 2557 days (7 years) by default. Prints one line.
 */
import { userInfo } from 'node:os';
import { parseArgs } from 'node:util';
import { purgeAudit } from '../audit/purge.js';
import { ConfigError, loadConfig } from '../config.js';
import { openDatabase } from '../db/database.js';
import { migrate } from '../db/migrate.js';

const DEFAULT_RETENTION_DAYS = 2557;
const DAY_MS = 24 * 60 * 60 * 1000;

/** Whole days, at least one: a zero or negative retention would wipe the trail. */
function days(name: string, raw: string | undefined): number {
  if (raw === undefined || raw === '') return DEFAULT_RETENTION_DAYS;
  const value = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(value) || value < 1 || value > 36500) {
    throw new ConfigError(`${name} must be a whole number of days from 1 to 36500 (got "${raw}")`);
  }
  return value;
}

function actor(): string {
  try {
    return `cli:${userInfo().username}`;
  } catch {
    return `cli:${process.env.USER ?? 'unknown'}`;
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'dry-run': { type: 'boolean', default: false },
      'older-than-days': { type: 'string' },
    },
  });
  const config = loadConfig();
  const retention =
    values['older-than-days'] !== undefined
      ? days('--older-than-days', values['older-than-days'])
      : days('AUDIT_RETENTION_DAYS', process.env.AUDIT_RETENTION_DAYS);
  const cutoff = new Date(Date.now() - retention * DAY_MS);
  const dryRun = values['dry-run'];
  const db = await openDatabase({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    timeouts: config.dbTimeouts,
  });
  try {
    await migrate(db);
    const result = await purgeAudit(db, cutoff, { dryRun, actor: actor() });
    const kept = result.oldestKept ? `; oldest kept recorded ${result.oldestKept}` : '';
    console.log(
      `${dryRun ? 'dry run: would purge' : 'purged'} ${result.purged} audit events recorded before ${cutoff.toISOString()} (${retention}-day retention)${kept}`,
    );
  } finally {
    await db.close();
  }
}

main().catch((err) => {
  console.error(`telefhir audit:purge: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
