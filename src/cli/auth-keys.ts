/**
 * `npm run auth-keys -- list|rotate`: the built-in authorization server's RS256 signing keys,
 * in the database DATABASE_URL names (or DATA_DIR's embedded one: stop the server first, PGlite
 * has one user at a time). Prints kids and dates, never key material.
 */
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config.js';
import { oauthIssuer } from '../oauth/issuer.js';
import { builtInIssuer } from '../oauth/oauth.js';
import { listSigningKeys, MAX_TOKEN_SECONDS, type SigningKeyInfo } from '../oauth/signing-keys.js';
import { openOAuthDatabase, openOAuthFor } from './open-oauth.js';

const USAGE = `Usage: npm run auth-keys -- <command>   (the built-in authorization server's signing keys)

  list    the keys, one a line: kid, created, status (active; retired, in the JWKS until
          its tokens have expired; or expired, no longer published)
  rotate  makes a new signing key and retires the active one. Tokens the old key signed keep
          verifying: it stays in /auth/jwks for ${MAX_TOKEN_SECONDS} s (the longest token
          lifetime). Running servers sign with the new key within 30 s.

Run it with the server's DATABASE_URL, DATA_DIR and KMS_KEY_ID or IDENTITY_KEK (the key that
wraps the signing keys). With the embedded database (no DATABASE_URL), stop the server first.`;

function status(key: SigningKeyInfo, now: Date): string {
  if (!key.retired) return 'active';
  if (key.publishedUntil! > now) {
    return `retired ${key.retired.toISOString()}, in the JWKS until ${key.publishedUntil!.toISOString()}`;
  }
  return `retired ${key.retired.toISOString()}, expired`;
}

async function main() {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: { help: { type: 'boolean', short: 'h' } },
  });
  const [command, ...rest] = positionals;
  if (values.help || !command) {
    console.log(USAGE);
    return;
  }
  if (!['list', 'rotate'].includes(command) || rest.length > 0) {
    throw new ConfigError(
      `unknown command "${positionals.join(' ')}" (see npm run auth-keys -- --help)`,
    );
  }
  const config = loadConfig();
  if (!builtInIssuer(config)) {
    throw new ConfigError(
      `this server verifies tokens with ${config.auth.jwksUri ? 'AUTH_JWKS_URI' : 'AUTH_HS256_SECRET'}, ` +
        'not with the keys of the built-in authorization server',
    );
  }
  if (command === 'list') {
    const db = await openOAuthDatabase(config);
    try {
      const now = new Date();
      for (const key of await listSigningKeys(db)) {
        console.log([key.kid, key.created.toISOString(), status(key, now)].join('\t'));
      }
    } finally {
      await db.close();
    }
    return;
  }
  const oauth = await openOAuthFor(config);
  try {
    const before = (await listSigningKeys(oauth.db)).find((key) => !key.retired);
    const kid = await oauth.keys.rotate((work) => oauth.db.transaction(work));
    console.log(`active: ${kid}`);
    if (before) {
      console.log(
        `retired: ${before.kid} (in ${oauthIssuer(config.baseUrl)}/jwks for ` +
          `${MAX_TOKEN_SECONDS} s more, until the tokens it signed have expired)`,
      );
    }
    console.log('running servers sign with the new key within 30 s');
  } finally {
    await oauth.db.close();
  }
}

main().catch((err: unknown) => {
  console.error(`telefhir auth-keys: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
