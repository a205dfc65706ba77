/**
 * The built-in authorization server's state as a CLI opens it beside a running server: the
 * database the server uses (DATABASE_URL, or DATA_DIR's embedded one when no server runs on it)
 * and the key-encryption key the server uses (KMS_KEY_ID, IDENTITY_KEK or DATA_DIR's key file),
 * so what the CLI signs or rotates is what the server verifies.
 */
import type { Config } from '../config.js';
import { openKeyWrapper } from '../identity/key-wrapper.js';
import { openOAuth, type OAuthServer } from '../oauth/oauth.js';
import { openDatabase, type Database } from '../db/database.js';
import { migrate, OAUTH_MIGRATIONS } from '../db/migrate.js';

/** The server's database with the authorization server's tables, and no key unwrapped. */
export async function openOAuthDatabase(config: Config): Promise<Database> {
  const db = await openDatabase({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    poolSize: 1,
    timeouts: config.dbTimeouts,
  });
  try {
    await migrate(db, OAUTH_MIGRATIONS, 'oauth_migrations');
    return db;
  } catch (error) {
    await db.close();
    throw error;
  }
}

/** The signing keys (the active one made when there is none, as the server's start does). */
export async function openOAuthFor(config: Config): Promise<OAuthServer> {
  const db = await openOAuthDatabase(config);
  try {
    const wrapper = await openKeyWrapper({
      ...config.identity,
      dataDir: config.dataDir,
      region: config.video.region,
    });
    return await openOAuth(db, wrapper);
  } catch (error) {
    await db.close();
    throw error;
  }
}
