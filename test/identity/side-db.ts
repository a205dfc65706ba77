/**
 * A running test server and a handle on its own database, for looking at (and ageing) rows.
 * The app's store is wrapped (documents), so it can't be reached through the app; and with
 * embedded PGlite a second handle on the directory would corrupt it. So the app hands over the
 * database it opened (AppParts.onDatabase): the same pool, or the same PGlite instance.
 */
import type { Test } from 'tap';
import type { AppParts } from '../../src/app.js';
import type { Config } from '../../src/config.js';
import type { Database } from '../../src/db/database.js';
import { startServer } from '../helpers.js';

export async function serverWithDatabase(t: Test, config: Config, parts: AppParts = {}) {
  let db: Database | undefined;
  const server = await startServer(t, config, { ...parts, onDatabase: (opened) => (db = opened) });
  if (!db) throw new Error('the app did not hand over its database');
  return { ...server, db };
}
