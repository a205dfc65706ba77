/**
 * `npm run token` against a Postgres database in built-in mode: it opens the database the
 * running server uses and signs with its active key, so the server accepts what it prints.
 */
import t from 'tap';
import type { JWK } from 'jose';
import { fhir } from '../helpers.js';
import { startBuiltIn } from '../oauth/helpers.js';
import { jwtParts, runCli, serverEnv } from './run-cli.js';

const postgres = Boolean(process.env.DATABASE_URL);
const skip = postgres ? false : 'needs DATABASE_URL (the embedded database has one user)';

async function get(base: string, path: string, token: string) {
  return fhir(base, 'GET', path, undefined, { authorization: `Bearer ${token}` });
}

async function jwksKids(auth: string): Promise<string[]> {
  const { keys } = (await (await fetch(`${auth}/jwks`)).json()) as { keys: JWK[] };
  return keys.map((key) => key.kid!).sort();
}

t.test(
  'npm run token signs with the built-in key of the server on that database',
  { skip },
  async (t) => {
    const server = await startBuiltIn(t);
    const env = serverEnv(server);
    const out = await runCli('token', ['--scope', 'system/*.*', '--expires', '600'], env);
    t.equal(out.status, 0, out.stderr);
    const token = out.stdout.trim();
    const { header, claims } = jwtParts(token);
    t.equal(header.alg, 'RS256');
    t.same([header.kid], await jwksKids(server.auth), "the server's one key");
    t.equal(claims.iss, server.auth, 'iss is {origin}/auth');
    t.equal(claims.aud, server.config.auth.audience);
    t.equal(claims.scope, 'system/*.*');
    t.type(claims.jti, 'string');
    t.equal((claims.exp as number) - (claims.iat as number), 600);
    t.equal((await get(server.base, 'Patient', token)).status, 200, 'the server accepts it');

    const patient = await runCli(
      'token',
      [
        '--scope',
        'patient/*.rs',
        '--patient',
        '123',
        '--role',
        'patient',
        '--fhir-user',
        'Patient/123',
      ],
      env,
    );
    t.equal(patient.status, 0, patient.stderr);
    t.match(jwtParts(patient.stdout).claims, {
      patient: '123',
      fhirUser: 'Patient/123',
      role: 'PATIENT',
      iss: server.auth,
    });

    const tooLong = await runCli('token', ['--scope', 'system/*.*', '--expires', '7200'], env);
    t.equal(tooLong.status, 1);
    t.match(tooLong.stderr, /--expires may be at most 3600 with the built-in key/);
    t.equal(tooLong.stdout, '');
  },
);
