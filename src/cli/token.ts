/**
 * Prints a development token signed with the secret `npm start` uses when no auth is
 * configured (or with AUTH_HS256_SECRET). `npm run token -- --help` says how.
 */
import { parseArgs } from 'node:util';
import { createSigner } from 'fast-jwt';
import { ROLES } from '../auth/claims.js';
import { developmentSecret } from '../auth/dev-secret.js';
import { ConfigError, loadConfig } from '../config.js';

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
  --expires SECS  lifetime in seconds (default 3600)
  --sub NAME      subject (default dev-user);  --client-id ID (default telefhir-dev-client)

Examples:
  npm run token -- --scope "system/*.*"
  npm run token -- --scope "patient/*.rs" --patient 123 --role PATIENT
  npm run token -- --scope "user/*.cruds" --role PROVIDER --fhir-user Practitioner/1`;

function main() {
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
  const secret = config.auth.hs256Secret ?? developmentSecret(config.dataDir).secret;
  const sign = createSigner({ key: secret, algorithm: 'HS256', expiresIn: expires * 1000 });
  const claims: Record<string, unknown> = {
    iss: config.auth.issuer,
    aud: config.auth.audience,
    sub: values.sub,
    client_id: values['client-id'],
    scope: values.scope,
  };
  if (values.patient) claims.patient = values.patient;
  if (values['fhir-user']) claims.fhirUser = values['fhir-user'];
  if (role !== undefined) claims.role = role;
  console.log(sign(claims));
}

try {
  main();
} catch (err) {
  console.error(`telefhir token: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
