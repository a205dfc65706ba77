/**
 * `npm run auth-keys`: it opens the database the running server uses, so a rotation there is
 * one the server follows; `npm run token` (built-in mode) shows which key signs.
 */
import t from 'tap';
import type { JWK } from 'jose';
import { fhir } from '../helpers.js';
import { postForm, registerClient, startBuiltIn } from '../oauth/helpers.js';
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
  'npm run auth-keys rotates the key; tokens of the old key keep verifying',
  { skip },
  async (t) => {
    const server = await startBuiltIn(t);
    const env = serverEnv(server);
    const [oldKid] = await jwksKids(server.auth);

    const listed = await runCli('auth-keys', ['list'], env);
    t.equal(listed.status, 0, listed.stderr);
    const [line, ...others] = listed.stdout.trim().split('\n');
    t.same(others, [], 'one key');
    t.match(line, new RegExp(`^${oldKid}\\t\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z\\tactive$`));

    // A token before the rotation: from the CLI, and from the server's own token endpoint.
    const { client_id, client_secret } = await registerClient(server, {
      client_name: 'reporting',
      token_endpoint_auth_method: 'client_secret_basic',
      scope: 'system/Patient.rs',
    });
    const basic = {
      authorization: `Basic ${Buffer.from(`${client_id}:${client_secret}`).toString('base64')}`,
    };
    const issue = async () => {
      const response = await postForm(
        `${server.auth}/token`,
        { grant_type: 'client_credentials' },
        basic,
      );
      t.equal(response.status, 200);
      return response.json.access_token as string;
    };
    const cliBefore = (await runCli('token', ['--scope', 'system/*.*'], env)).stdout.trim();
    const issuedBefore = await issue();
    t.equal(jwtParts(cliBefore).header.kid, oldKid);
    t.equal(jwtParts(issuedBefore).header.kid, oldKid);

    const rotated = await runCli('auth-keys', ['rotate'], env);
    t.equal(rotated.status, 0, rotated.stderr);
    const newKid = /^active: (\S+)$/m.exec(rotated.stdout)?.[1];
    t.ok(newKid && newKid !== oldKid, 'a new key');
    t.match(
      rotated.stdout,
      new RegExp(`^retired: ${oldKid} \\(in ${server.auth}/jwks for 3600 s`, 'm'),
    );

    // The CLI signs with the new key at once; the server learns of it from the first token that
    // names it (an unknown kid re-reads the keys), else within 30 s.
    const cliAfter = (await runCli('token', ['--scope', 'system/*.*'], env)).stdout.trim();
    t.equal(jwtParts(cliAfter).header.kid, newKid, 'new tokens use the new kid');
    t.equal((await get(server.base, 'Patient', cliAfter)).status, 200, 'the new key verifies');
    t.same(await jwksKids(server.auth), [oldKid, newKid].sort(), '/auth/jwks lists both');
    t.equal(
      (await get(server.base, 'Patient', cliBefore)).status,
      200,
      'the old key still verifies',
    );
    t.equal((await get(server.base, 'Patient', issuedBefore)).status, 200);
    t.equal(
      jwtParts(await issue()).header.kid,
      newKid,
      'the token endpoint signs with the new key',
    );

    const after = await runCli('auth-keys', ['list'], env);
    t.equal(after.status, 0, after.stderr);
    const lines = after.stdout.trim().split('\n');
    t.equal(lines.length, 2);
    t.match(
      lines.find((l) => l.startsWith(oldKid!)),
      /\tretired [\dT:.Z-]+, in the JWKS until [\dT:.Z-]+$/,
    );
    t.match(
      lines.find((l) => l.startsWith(newKid!)),
      /\tactive$/,
    );
    const [row] = (await server.app.inject({ method: 'GET', url: '/auth/jwks' })).json<{
      keys: JWK[];
    }>().keys;
    t.notOk(after.stdout.includes(row!.n!.slice(0, 20)), 'no key material in the listing');
  },
);

t.test(
  'auth-keys: help, unknown commands, and a server that does not use the built-in keys',
  async (t) => {
    const help = await runCli('auth-keys', ['--help'], {});
    t.equal(help.status, 0);
    t.match(help.stdout, /rotate {2}makes a new signing key/);
    const unknown = await runCli('auth-keys', ['delete'], {});
    t.equal(unknown.status, 1);
    t.match(unknown.stderr, /^telefhir auth-keys: unknown command "delete"/);
    const external = await runCli('auth-keys', ['list'], {
      AUTH_JWKS_URI: 'https://idp.example/jwks.json',
      AUTH_ISSUER: 'https://idp.example',
    });
    t.equal(external.status, 1);
    t.match(
      external.stderr,
      /verifies tokens with AUTH_JWKS_URI, not with the keys of the built-in/,
    );
  },
);
