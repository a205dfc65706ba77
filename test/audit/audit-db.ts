/** Shared by the audit tests: a migrated database of the test's own, closed at teardown. */
import type { Test } from 'tap';
import { openDatabase, type Database } from '../../src/store/postgres/database.js';
import { migrate } from '../../src/store/postgres/migrate.js';
import { isolatedDatabase } from '../helpers.js';

export async function auditDatabase(t: Test): Promise<Database> {
  const where = await isolatedDatabase(t);
  const db = await openDatabase({ databaseUrl: where.databaseUrl, dataDir: where.dataDir ?? '' });
  t.teardown(() => db.close());
  await migrate(db);
  return db;
}
