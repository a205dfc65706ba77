/**
 * Introspection and revocation, and who may register a client. A revoked token is refused by
 * the FHIR API at once, on every replica (the revocation list is in Postgres).
 */
import t from 'tap';
import { buildApp } from '../../src/app.js';
import { openDatabase } from '../../src/db/database.js';
import { testToken } from '../helpers.js';
import {
  devToken,
  postForm,
  postJson,
  registerClient,
  startBuiltIn,
  type BuiltIn,
} from './helpers.js';

const basic = (id: string, secret: string) => ({
  authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`,
});

async function secretClient(server: BuiltIn, scope = 'system/*.rs') {
  const client = await registerClient(server, {
    client_name: 'svc',
    token_endpoint_auth_method: 'client_secret_basic',
    scope,
  });
  const headers = basic(client.client_id, client.client_secret!);
  const token = async () =>
    (await postForm(`${server.auth}/token`, { grant_type: 'client_credentials' }, headers)).json
      .access_token as string;
  return { ...client, headers, token };
}

const api = (server: BuiltIn, token: string) =>
  fetch(`${server.base}/Patient`, { headers: { authorization: `Bearer ${token}` } });

t.test('introspection: active tokens say what they carry; anything else is inactive', async (t) => {
  const server = await startBuiltIn(t);
  const client = await secretClient(server);
  const token = await client.token();
  const live = await postForm(`${server.auth}/introspect`, { token }, client.headers);
  t.equal(live.status, 200);
  t.equal(live.headers.get('cache-control'), 'no-store');
  t.match(live.json, {
    active: true,
    scope: 'system/*.rs',
    client_id: client.client_id,
    sub: client.client_id,
    iss: server.auth,
    exp: Number,
  });
  for (const other of ['garbage', testToken(), `${token.slice(0, -4)}AAAA`]) {
    const response = await postForm(`${server.auth}/introspect`, { token: other }, client.headers);
    t.same(response.json, { active: false });
  }
  const admin = devToken(server.config, { role: 'ADMIN', scope: 'user/*.*' });
  const byAdmin = await postForm(
    `${server.auth}/introspect`,
    { token },
    { authorization: `Bearer ${admin}` },
  );
  t.equal(byAdmin.json.active, true, 'an ADMIN bearer may introspect');
  const anonymous = await postForm(`${server.auth}/introspect`, { token });
  t.equal(anonymous.status, 401);
  t.equal(anonymous.json.error, 'invalid_client');
  const patient = devToken(server.config, { role: 'PATIENT', scope: 'patient/*.rs', patient: '1' });
  const byPatient = await postForm(
    `${server.auth}/introspect`,
    { token },
    { authorization: `Bearer ${patient}` },
  );
  t.equal(byPatient.status, 403);
});

t.test('a revoked token gets 401 from the FHIR API and introspects as inactive', async (t) => {
  const server = await startBuiltIn(t);
  const client = await secretClient(server);
  const other = await secretClient(server);
  const token = await client.token();
  t.equal((await api(server, token)).status, 200);
  const notYours = await postForm(`${server.auth}/revoke`, { token }, other.headers);
  t.equal(notYours.status, 400, 'another client may not revoke it');
  t.equal((await api(server, token)).status, 200);
  const revoked = await postForm(`${server.auth}/revoke`, { token }, client.headers);
  t.equal(revoked.status, 200);
  const refused = await api(server, token);
  t.equal(refused.status, 401);
  t.match(refused.headers.get('www-authenticate'), /token revoked/);
  t.same((await postForm(`${server.auth}/introspect`, { token }, client.headers)).json, {
    active: false,
  });
  const again = await postForm(`${server.auth}/revoke`, { token: 'junk' }, client.headers);
  t.equal(again.status, 200, 'revoking an unknown token is not an error (RFC 7009)');
  t.equal((await api(server, await client.token())).status, 200, 'a new token works');
});

const skipOnPglite = {
  skip: process.env.DATABASE_URL ? false : 'needs two handles on one database',
};

t.test('revocation holds on every replica, with one indexed lookup', skipOnPglite, async (t) => {
  const server = await startBuiltIn(t);
  const replica = await buildApp({ ...server.config });
  t.teardown(() => replica.close());
  const client = await secretClient(server);
  const token = await client.token();
  const onReplica = () =>
    replica.inject({ url: '/fhir/Patient', headers: { authorization: `Bearer ${token}` } });
  t.equal((await onReplica()).statusCode, 200);
  await postForm(`${server.auth}/revoke`, { token }, client.headers);
  t.equal((await onReplica()).statusCode, 401, 'the other replica refuses it at once');

  const db = await openDatabase({ databaseUrl: server.config.databaseUrl, dataDir: '' });
  t.teardown(() => db.close());
  await db.query(
    `INSERT INTO oauth_revoked_token (jti, expires_at)
     SELECT gen_random_uuid()::text, now() + interval '5 minutes' FROM generate_series(1, 5000)`,
  );
  await db.query('ANALYZE oauth_revoked_token');
  const plan = await db.query<{ 'QUERY PLAN': string }>(
    "EXPLAIN SELECT 1 FROM oauth_revoked_token WHERE jti = 'x'",
  );
  t.match(plan[0]!['QUERY PLAN'], /Index (Only )?Scan using oauth_revoked_token_pkey/);
});

t.test('registration needs an ADMIN or system/ bearer, in OAuth words', async (t) => {
  const server = await startBuiltIn(t);
  const metadata = {
    client_name: 'x',
    token_endpoint_auth_method: 'client_secret_basic',
    scope: 'system/*.rs',
  };
  const none = await postJson(`${server.auth}/register`, metadata);
  t.equal(none.status, 401);
  t.equal(none.json.error, 'invalid_token');
  const bad = await postJson(`${server.auth}/register`, metadata, 'not.a.token');
  t.equal(bad.status, 401);
  const patient = devToken(server.config, {
    role: 'PATIENT',
    scope: 'patient/*.rs system/*.*',
    patient: '1',
  });
  const byPatient = await postJson(`${server.auth}/register`, metadata, patient);
  t.equal(byPatient.status, 403, 'a PATIENT token may not register a client');
  t.equal(byPatient.json.error, 'insufficient_scope');
  const provider = devToken(server.config, { role: 'PROVIDER', scope: 'user/*.*' });
  t.equal((await postJson(`${server.auth}/register`, metadata, provider)).status, 403);
  const service = devToken(server.config, { scope: 'system/*.rs' });
  const bySystem = await postJson(`${server.auth}/register`, metadata, service);
  t.equal(bySystem.status, 201);
  t.match(bySystem.json, {
    client_id: String,
    client_secret: String,
    grant_types: ['client_credentials'],
  });

  // A built-in system token (from a registered client) may register too; revoked, it may not.
  const client = await secretClient(server);
  const token = await client.token();
  t.equal((await postJson(`${server.auth}/register`, metadata, token)).status, 201);
  await postForm(`${server.auth}/revoke`, { token }, client.headers);
  t.equal((await postJson(`${server.auth}/register`, metadata, token)).status, 401);

  const admin = devToken(server.config, { role: 'ADMIN', scope: 'user/*.*' });
  const invalid = [
    { ...metadata, grant_types: ['implicit'], redirect_uris: ['https://app/cb'] },
    { ...metadata, grant_types: ['authorization_code'] }, // no redirect URI
    { ...metadata, token_endpoint_auth_method: 'private_key_jwt' },
    {
      ...metadata,
      token_endpoint_auth_method: 'private_key_jwt',
      jwks: { keys: [{ kty: 'RSA', n: 'x', e: 'AQAB', d: 'secret' }] },
    },
    { ...metadata, token_endpoint_auth_method: 'none' },
    { ...metadata, redirect_uris: ['http://evil.example/cb'] },
    [],
  ];
  for (const body of invalid) {
    const response = await postJson(`${server.auth}/register`, body, admin);
    t.equal(response.status, 400, JSON.stringify(body));
    t.match(response.json.error, /^invalid_(client_metadata|redirect_uri)$/);
  }
});

t.test("a client introspects only its own tokens; another's is inactive to it", async (t) => {
  const server = await startBuiltIn(t);
  const client = await secretClient(server);
  const other = await secretClient(server);
  const token = await client.token();
  const byOther = await postForm(`${server.auth}/introspect`, { token }, other.headers);
  t.same(byOther.json, { active: false }, 'no sub, patient or fhirUser of another client');
  const otherBearer = { authorization: `Bearer ${await other.token()}` };
  const byService = await postForm(`${server.auth}/introspect`, { token }, otherBearer);
  t.same(byService.json, { active: false }, "nor with that client's bearer token");
  t.equal((await postForm(`${server.auth}/revoke`, { token }, otherBearer)).status, 400);
  t.equal((await api(server, token)).status, 200, 'still alive');
  const own = await postForm(`${server.auth}/introspect`, { token }, client.headers);
  t.equal(own.json.active, true);
});
