/**
 * A second connection to a running test server's database, for looking at (and ageing) rows.
 * The app's own store is wrapped (documents), so it can't be reached; with embedded PGlite a
 * second handle would corrupt the database, so these tests need DATABASE_URL (as CI runs them).
 */
import type { Config } from '../../src/config.js';
import { openDatabase, type Database } from '../../src/db/database.js';

import type { Test } from 'tap';

export async function sideDatabase(t: Test, config: Config): Promise<Database | undefined> {
  if (!config.databaseUrl) {
    // Counted as a skip, not passed silently: the checks behind it did not run.
    t.skip('needs DATABASE_URL: a second handle on embedded PGlite is not safe', () => {});
    return undefined;
  }
  const db = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  t.teardown(() => db.close());
  return db;
}
