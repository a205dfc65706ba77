import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const DEV_SECRET_FILE = 'dev-auth-secret';

/**
 * The development signing secret in DATA_DIR, made on first use (readable by the owner only),
 * so `npm start` and `npm run token` agree without any configuration. Never used in production:
 * the server doesn't make it there (app.ts) and `npm run token` refuses to (it signs with the
 * built-in key, or config refuses to start).
 */
export function developmentSecret(dataDir: string): { secret: string; created: boolean } {
  const file = join(dataDir, DEV_SECRET_FILE);
  try {
    return { secret: readFileSync(file, 'utf8').trim(), created: false };
  } catch {
    mkdirSync(dataDir, { recursive: true });
    const secret = randomBytes(32).toString('base64url');
    try {
      writeFileSync(file, `${secret}\n`, { mode: 0o600, flag: 'wx' });
      return { secret, created: true };
    } catch {
      // Another process made it first: use theirs.
      return { secret: readFileSync(file, 'utf8').trim(), created: false };
    }
  }
}
