/**
 * Prints a development token signed with the secret `npm start` uses when no auth is
 * configured (or with AUTH_HS256_SECRET):
 *   npm run token -- --scope "patient/*.rs" --patient 123 [--fhir-user Practitioner/1]
 *                    [--role PROVIDER] [--expires 3600] [--sub someone]
 */
import { parseArgs } from 'node:util';
import { createSigner } from 'fast-jwt';
import { developmentSecret } from '../auth/dev-secret.js';
import { ConfigError, loadConfig } from '../config.js';

function main() {
  const { values } = parseArgs({
    options: {
      scope: { type: 'string', default: 'user/*.cruds' },
      patient: { type: 'string' },
      'fhir-user': { type: 'string' },
      role: { type: 'string' },
      expires: { type: 'string', default: '3600' },
      sub: { type: 'string', default: 'dev-user' },
      'client-id': { type: 'string', default: 'telefhir-dev-client' },
    },
  });
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
  if (values.role) claims.role = values.role;
  console.log(sign(claims));
}

try {
  main();
} catch (err) {
  console.error(`telefhir token: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
