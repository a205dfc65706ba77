/**
 * NODE_ENV=production without AUTH_JWKS_URI: the built-in authorization server issues the
 * tokens, the development HS256 secret is neither made nor accepted, and `npm run token` (with
 * the server's DATABASE_URL and IDENTITY_KEK) signs with the built-in key.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { createSigner } from 'fast-jwt';
import { buildApp } from '../../src/app.js';
import { DEV_SECRET_FILE } from '../../src/auth/dev-secret.js';
import { loadConfig } from '../../src/config.js';
import { jwtParts, runCli } from '../cli/run-cli.js';
import { isolatedDatabase } from '../helpers.js';

const skip = process.env.DATABASE_URL ? false : 'production needs DATABASE_URL (Postgres)';

t.test(
  'production starts with the built-in server, and only its tokens get in',
  { skip },
  async (t) => {
    const db = await isolatedDatabase(t);
    const env = {
      NODE_ENV: 'production',
      DATABASE_URL: db.databaseUrl!,
      DATA_DIR: db.dataDir!,
      FHIR_BASE_URL: 'https://fhir.example.test/fhir',
      IDENTITY_KEK: Buffer.alloc(32, 9).toString('base64'),
    };
    const app = await buildApp(loadConfig({ ...env, LOG_LEVEL: 'silent' }));
    t.teardown(() => app.close());

    t.notOk(existsSync(join(db.dataDir!, DEV_SECRET_FILE)), 'no development secret is made');
    const jwks = await app.inject({ method: 'GET', url: '/auth/jwks' });
    t.equal(jwks.statusCode, 200);
    t.equal(jwks.json().keys.length, 1);

    const cli = await runCli('token', ['--scope', 'system/*.*'], env);
    t.equal(cli.status, 0, cli.stderr);
    const token = cli.stdout.trim();
    t.match(jwtParts(token), {
      header: { alg: 'RS256', kid: jwks.json().keys[0].kid },
      claims: { iss: 'https://fhir.example.test/auth', aud: 'https://fhir.example.test/fhir' },
    });
    const read = (bearer: string) =>
      app.inject({
        method: 'GET',
        url: '/fhir/Patient',
        headers: { authorization: `Bearer ${bearer}` },
      });
    t.equal((await read(token)).statusCode, 200, 'a built-in token is accepted');

    // An HS256 token, as the development mode would take: production has no secret to check it.
    const hs256 = createSigner({ key: 'x'.repeat(43), algorithm: 'HS256', expiresIn: 60_000 })({
      iss: 'telefhir-dev',
      aud: 'https://fhir.example.test/fhir',
      sub: 'dev-user',
      scope: 'system/*.*',
    });
    t.equal((await read(hs256)).statusCode, 401, 'no HS256 token is accepted');
    t.notOk(existsSync(join(db.dataDir!, DEV_SECRET_FILE)), 'the CLI made no development secret');
  },
);
