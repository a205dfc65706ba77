/**
 * Prints a token the running configuration accepts: with DATABASE_URL in built-in mode, an
 * RS256 token signed with the built-in authorization server's current key (the kind
 * POST /auth/token issues); with the embedded database, which can't be opened while the server
 * runs, an HS256 token with the development secret in DATA_DIR (never in production); with
 * AUTH_HS256_SECRET, HS256 with it. `npm run token -- --help` says how.
 */
import { parseArgs } from 'node:util';
import { createSigner } from 'fast-jwt';
import { ROLES } from '../auth/claims.js';
import { developmentSecret } from '../auth/dev-secret.js';
import { ConfigError, loadConfig, type Config } from '../config.js';
import { issueAccessToken } from '../oauth/access-tokens.js';
import { oauthIssuer } from '../oauth/issuer.js';
import { builtInIssuer } from '../oauth/oauth.js';
import { MAX_TOKEN_SECONDS } from '../oauth/signing-keys.js';
import { openOAuthFor } from './open-oauth.js';

// The policy grants only what both a scope and a role allow (src/auth/policy.ts), so a user's
// token without a role is refused everything; the help says so before the first 403 does.
const USAGE = `Usage: npm run token -- [options]   (prints a token for the running configuration)

  --scope S       SMART scopes, space-separated (default "user/*.cruds"), e.g.
                  "system/*.*" (a backend service), "patient/*.rs", "user/Patient.rs"
  --role R        the user's role: ${ROLES.join(', ')}.
                  Needed by every token whose scopes are patient/ or user/: the server
                  grants what both a scope and the role allow. Only system/ scopes work
                  without a role (a backend service has no user).
  --patient ID    the launch patient (the patient/ scopes' compartment)
  --fhir-user T/ID  the user's own resource, e.g. Patient/123, Practitioner/1
  --expires SECS  lifetime in seconds (default 3600, at most ${MAX_TOKEN_SECONDS} with the built-in key)
  --sub NAME      subject (default dev-user);  --client-id ID (default telefhir-dev-client)

How it signs (give it the server's DATABASE_URL, DATA_DIR, FHIR_BASE_URL, AUTH_*, and its
KMS_KEY_ID or IDENTITY_KEK, which unwrap the signing key):
  DATABASE_URL set, no AUTH_HS256_SECRET or AUTH_JWKS_URI (the built-in authorization server):
                  RS256 with the built-in server's current signing key, iss {origin of
                  FHIR_BASE_URL}/auth, with a jti: the kind of token POST /auth/token issues.
  No DATABASE_URL (the embedded database, which can't be opened while the server runs):
                  HS256 with the development secret in DATA_DIR/dev-auth-secret, which the
                  server accepts outside production only (production needs DATABASE_URL).
  AUTH_HS256_SECRET set: HS256 with that secret.   AUTH_JWKS_URI set: refused (ask that issuer).

Examples:
  npm run token -- --scope "system/*.*"
  npm run token -- --scope "patient/*.rs" --patient 123 --role PATIENT
  npm run token -- --scope "user/*.cruds" --role PROVIDER --fhir-user Practitioner/1`;

async function main() {
  const { values } = parseArgs({
    options: {
      help: { type: 'boolean', short: 'h' },
      scope: { type: 'string', default: 'user/*.cruds' },
      patient: { type: 'string' },
      'fhir-user': { type: 'string' },
      role: { type: 'string' },
      expires: { type: 'string', default: '3600' },
      sub: { type: 'string', default: 'dev-user' },
      'client-id': { type: 'string', default: 'telefhir-dev-client' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const role = values.role?.trim().toUpperCase();
  if (role !== undefined && !(ROLES as readonly string[]).includes(role)) {
    throw new ConfigError(`--role must be one of ${ROLES.join(', ')} (got "${values.role}")`);
  }
  const scopes = values.scope.split(/\s+/).filter(Boolean);
  if (role === undefined && scopes.some((scope) => !scope.startsWith('system/'))) {
    // stderr, so TOKEN=$(npm run token ...) still captures only the token.
    console.error(
      'telefhir token: warning: no --role, so only system/ scopes grant anything ' +
        '(see npm run token -- --help)',
    );
  }
  const config = loadConfig();
  if (config.auth.jwksUri) {
    throw new ConfigError(
      'npm run token signs development tokens; this server verifies with a JWKS',
    );
  }
  const expires = Number(values.expires);
  if (!Number.isInteger(expires) || expires <= 0) throw new ConfigError('--expires takes seconds');
  const claims: Record<string, unknown> = {
    aud: config.auth.audience,
    sub: values.sub,
    client_id: values['client-id'],
    scope: values.scope,
  };
  if (values.patient) claims.patient = values.patient;
  if (values['fhir-user']) claims.fhirUser = values['fhir-user'];
  if (role !== undefined) claims.role = role;
  if (builtInIssuer(config) && config.databaseUrl) {
    console.log(await builtInToken(config, claims, expires));
    return;
  }
  if (config.auth.production) {
    // Unreachable while config refuses production without DATABASE_URL or with a shared
    // secret; kept so no future path makes the development secret in production.
    throw new ConfigError('NODE_ENV=production: no development tokens');
  }
  const secret = config.auth.hs256Secret ?? developmentSecret(config.dataDir).secret;
  const sign = createSigner({ key: secret, algorithm: 'HS256', expiresIn: expires * 1000 });
  console.log(sign({ iss: config.auth.issuer, ...claims }));
}

/**
 * A token from the built-in issuer's active key, in the database the server shares. Its
 * lifetime is capped like the server's own: a rotated-out key is published only that long.
 */
async function builtInToken(
  config: Config,
  claims: Record<string, unknown>,
  expires: number,
): Promise<string> {
  if (expires > MAX_TOKEN_SECONDS) {
    throw new ConfigError(
      `--expires may be at most ${MAX_TOKEN_SECONDS} with the built-in key ` +
        '(a rotated-out key is published only that long)',
    );
  }
  const oauth = await openOAuthFor(config);
  try {
    const token = await issueAccessToken(
      oauth.keys,
      {
        ...claims,
        iss: oauthIssuer(config.baseUrl),
        aud: config.auth.audience,
        sub: String(claims.sub),
        client_id: String(claims.client_id),
        scope: String(claims.scope),
      },
      expires,
    );
    return token.accessToken;
  } finally {
    await oauth.db.close();
  }
}

main().catch((err: unknown) => {
  console.error(`telefhir token: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
