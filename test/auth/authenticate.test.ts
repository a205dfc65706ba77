import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createSigner } from 'fast-jwt';
import t, { type Test } from 'tap';
import {
  fhir,
  startServer,
  startTestServer,
  testConfig,
  testToken,
  TEST_AUDIENCE,
  TEST_ISSUER,
} from '../helpers.js';

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const now = () => Math.floor(Date.now() / 1000);

async function expect401(t: Test, base: string, headers: Record<string, string>, why: RegExp) {
  const res = await fhir(base, 'GET', 'Patient/x', undefined, headers);
  t.equal(res.status, 401, String(why));
  t.equal(res.body.resourceType, 'OperationOutcome');
  t.equal(res.body.issue[0].code, 'login');
  const challenge = res.headers.get('www-authenticate') ?? '';
  t.match(challenge, /^Bearer realm="telefhir", error="invalid_token"/);
  t.match(challenge, why);
}

t.test('a request without a valid token is 401 with a Bearer challenge', async (t) => {
  const { base } = await startTestServer(t);
  await expect401(t, base, { authorization: '' }, /no bearer token/);
  await expect401(t, base, { authorization: 'Basic dXNlcjpwYXNz' }, /./);
  await expect401(t, base, bearer('not.a.jwt'), /malformed|invalid/);
  await expect401(t, base, bearer(testToken({}, -120)), /expired/);
  await expect401(t, base, bearer(testToken({ iss: 'https://elsewhere' })), /issuer|invalid/);
  await expect401(t, base, bearer(testToken({ aud: 'someone-else' })), /audience/);
  await expect401(t, base, bearer(testToken({ nbf: now() + 600 })), /not yet valid|invalid/);
  const forged = createSigner({
    key: 'another-secret-another-secret-0000',
    algorithm: 'HS256',
    expiresIn: 60_000,
  });
  await expect401(
    t,
    base,
    bearer(forged({ iss: TEST_ISSUER, aud: TEST_AUDIENCE, scope: 'system/*.*' })),
    /signature|invalid/,
  );
  const unsigned = createSigner({ algorithm: 'none', expiresIn: 60_000 });
  await expect401(
    t,
    base,
    bearer(unsigned({ iss: TEST_ISSUER, aud: TEST_AUDIENCE, scope: 'system/*.*' })),
    /./,
  );
  const noExpiry = createSigner({
    key: 'telefhir-test-secret-0123456789abcdef',
    algorithm: 'HS256',
  });
  await expect401(t, base, bearer(noExpiry({ iss: TEST_ISSUER, aud: TEST_AUDIENCE })), /./);
});

t.test('clock skew up to 60 s is tolerated', async (t) => {
  const { base } = await startTestServer(t);
  const justExpired = testToken({}, -30);
  t.equal((await fhir(base, 'GET', 'Patient/x', undefined, bearer(justExpired))).status, 404);
  const almostValid = testToken({ nbf: now() + 30 });
  t.equal((await fhir(base, 'GET', 'Patient/x', undefined, bearer(almostValid))).status, 404);
});

t.test('a valid token is accepted; the refused token never reaches the logs', async (t) => {
  const { base } = await startTestServer(t);
  t.equal((await fhir(base, 'GET', 'Patient/x', undefined, bearer(testToken()))).status, 404);
  t.equal(
    (
      await fhir(
        base,
        'GET',
        'Patient/x',
        undefined,
        bearer(testToken({ aud: [TEST_AUDIENCE, 'x'] })),
      )
    ).status,
    404,
  );
});

t.test('metadata, smart-configuration and CORS preflight need no token', async (t) => {
  const { base } = await startTestServer(t);
  t.equal((await fhir(base, 'GET', 'metadata', undefined, { authorization: '' })).status, 200);
  const smart = await fetch(`${base}/.well-known/smart-configuration`, {
    headers: { origin: 'https://app.example' },
  });
  t.equal(smart.status, 200);
  t.match(smart.headers.get('content-type'), /^application\/json/);
  t.equal(smart.headers.get('access-control-allow-origin'), 'https://app.example');
  const config = await smart.json();
  for (const field of [
    'issuer',
    'authorization_endpoint',
    'token_endpoint',
    'grant_types_supported',
    'scopes_supported',
    'response_types_supported',
    'capabilities',
  ]) {
    t.ok(config[field], field);
  }
  t.same(config.code_challenge_methods_supported, ['S256']);
  for (const capability of [
    'launch-standalone',
    'client-public',
    'client-confidential-symmetric',
    'context-standalone-patient',
    'permission-patient',
    'permission-user',
    'permission-v1',
    'permission-v2',
  ]) {
    t.ok(config.capabilities.includes(capability), capability);
  }
  const preflight = await fetch(`${base}/Patient/x`, {
    method: 'OPTIONS',
    headers: {
      origin: 'https://app.example',
      'access-control-request-method': 'GET',
      'access-control-request-headers': 'authorization',
    },
  });
  t.equal(preflight.status, 204);
  t.match(preflight.headers.get('access-control-allow-headers'), /Authorization/i);
  const read = await fetch(`${base}/Patient/x`, {
    headers: { origin: 'https://app.example', ...bearer(testToken()) },
  });
  t.match(read.headers.get('access-control-expose-headers'), /ETag/);
  t.match(read.headers.get('access-control-expose-headers'), /Location/);
});

t.test('the CapabilityStatement declares SMART security with the same OAuth URLs', async (t) => {
  const { base } = await startTestServer(t);
  const statement = (await fhir(base, 'GET', 'metadata')).body;
  const security = statement.rest[0].security;
  t.equal(security.cors, true);
  t.equal(security.service[0].coding[0].code, 'SMART-on-FHIR');
  const smart = await (await fetch(`${base}/.well-known/smart-configuration`)).json();
  const uris = Object.fromEntries(
    security.extension[0].extension.map((e: { url: string; valueUri: string }) => [
      e.url,
      e.valueUri,
    ]),
  );
  t.equal(uris.authorize, smart.authorization_endpoint);
  t.equal(uris.token, smart.token_endpoint);
});

interface Jwks {
  url: string;
  keys: Map<string, KeyObject>;
  fetches: number;
  server: Server;
}

/** A JWKS endpoint on loopback, like Cognito's, whose key set a test can change. */
async function jwksServer(t: Test): Promise<Jwks> {
  const state = { keys: new Map<string, KeyObject>(), fetches: 0 } as Jwks;
  state.server = createServer((_req, res) => {
    state.fetches++;
    const keys = [...state.keys].map(([kid, key]) => ({
      ...key.export({ format: 'jwk' }),
      kid,
      alg: 'RS256',
      use: 'sig',
    }));
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ keys }));
  });
  await new Promise<void>((resolve) => state.server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise((resolve) => state.server.close(resolve)));
  state.url = `http://127.0.0.1:${(state.server.address() as AddressInfo).port}/pool/.well-known/jwks.json`;
  return state;
}

/** A test server that verifies tokens with the JWKS at `jwks`, as production does with Cognito's. */
async function startJwksServer(t: Test, jwks: Jwks) {
  const config = await testConfig(t);
  config.auth = {
    ...config.auth,
    jwksUri: jwks.url,
    issuer: 'https://cognito-idp.test/pool',
    hs256Secret: undefined,
  };
  return startServer(t, config);
}

function rsaKey() {
  return generateKeyPairSync('rsa', { modulusLength: 2048 });
}

function rs256(privateKey: KeyObject, kid: string, claims: Record<string, unknown>) {
  const sign = createSigner({
    key: privateKey.export({ format: 'pem', type: 'pkcs8' }) as string,
    algorithm: 'RS256',
    kid,
    expiresIn: 300_000,
  });
  return sign({ iss: 'https://cognito-idp.test/pool', ...claims });
}

t.test('JWKS: RS256 tokens verify; an unknown kid refetches the key set (rotation)', async (t) => {
  const jwks = await jwksServer(t);
  const first = rsaKey();
  jwks.keys.set('k1', first.publicKey);
  const { base } = await startJwksServer(t, jwks);
  const claims = { aud: TEST_AUDIENCE, scope: 'system/*.*' };
  t.equal(
    (await fhir(base, 'GET', 'Patient/x', undefined, bearer(rs256(first.privateKey, 'k1', claims))))
      .status,
    404,
  );
  const second = rsaKey();
  jwks.keys.set('k2', second.publicKey);
  const before = jwks.fetches;
  t.equal(
    (
      await fhir(
        base,
        'GET',
        'Patient/x',
        undefined,
        bearer(rs256(second.privateKey, 'k2', claims)),
      )
    ).status,
    404,
  );
  t.ok(jwks.fetches > before, 'the new kid made the server fetch the JWKS again');
  const stranger = rsaKey();
  const res = await fhir(
    base,
    'GET',
    'Patient/x',
    undefined,
    bearer(rs256(stranger.privateKey, 'k1', claims)),
  );
  t.equal(res.status, 401, 'a key that is not in the set fails');
  const hs = await fhir(
    base,
    'GET',
    'Patient/x',
    undefined,
    bearer(testToken({ iss: 'https://cognito-idp.test/pool' })),
  );
  t.equal(hs.status, 401, 'HS256 is refused when a JWKS is configured');
});

t.test('JWKS: Cognito access tokens use client_id for the audience', async (t) => {
  const jwks = await jwksServer(t);
  const key = rsaKey();
  jwks.keys.set('k1', key.publicKey);
  const { base } = await startJwksServer(t, jwks);
  const access = {
    token_use: 'access',
    client_id: TEST_AUDIENCE,
    scope: 'system/*.read',
    'cognito:groups': ['ADMIN'],
  };
  t.equal(
    (await fhir(base, 'GET', 'Patient/x', undefined, bearer(rs256(key.privateKey, 'k1', access))))
      .status,
    404,
  );
  const other = { ...access, client_id: 'another-app' };
  t.equal(
    (await fhir(base, 'GET', 'Patient/x', undefined, bearer(rs256(key.privateKey, 'k1', other))))
      .status,
    401,
  );
  const idToken = { token_use: 'id', client_id: TEST_AUDIENCE };
  t.equal(
    (await fhir(base, 'GET', 'Patient/x', undefined, bearer(rs256(key.privateKey, 'k1', idToken))))
      .status,
    401,
    'an id token without aud is refused',
  );
});
