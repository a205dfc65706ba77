/**
 * SMART Backend Services against the built-in authorization server: a client with a key pair
 * made here registers, signs an assertion, gets a token, and calls the FHIR API with it. Every
 * way an assertion can be wrong is refused with invalid_client, before any token is issued.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import t from 'tap';
import { exportJWK, generateKeyPair, importJWK, SignJWT, type JWK, type JWTPayload } from 'jose';
import { JWT_BEARER } from '../../src/oauth/client-auth.js';
import { postForm, registerClient, startBuiltIn, type BuiltIn } from './helpers.js';

type Key = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

async function keyPair(alg: 'RS384' | 'ES384') {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid: randomUUID(), alg };
  return { privateKey, jwk };
}

function assertion(
  server: BuiltIn,
  clientId: string,
  key: Key,
  kid: string,
  alg = 'RS384',
  claims: JWTPayload = {},
) {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({
    iss: clientId,
    sub: clientId,
    aud: `${server.auth}/token`,
    exp: now + 240,
    jti: randomUUID(),
    ...claims,
  })
    .setProtectedHeader({ alg, kid, typ: 'JWT' })
    .sign(key);
}

function tokenRequest(server: BuiltIn, signed: string, scope = 'system/*.rs') {
  return postForm(`${server.auth}/token`, {
    grant_type: 'client_credentials',
    client_assertion_type: JWT_BEARER,
    client_assertion: signed,
    scope,
  });
}

t.test('backend services, end to end', async (t) => {
  const server = await startBuiltIn(t);
  const { privateKey, jwk } = await keyPair('RS384');
  const { client_id } = await registerClient(server, {
    client_name: 'lab feed',
    token_endpoint_auth_method: 'private_key_jwt',
    jwks: { keys: [jwk] },
    scope: 'system/*.rs system/Patient.cruds',
  });

  t.test('an RS384 assertion with an inline JWKS gets a token the FHIR API accepts', async (t) => {
    const signed = await assertion(server, client_id, privateKey, jwk.kid!);
    const response = await tokenRequest(server, signed, 'system/*.rs');
    t.equal(response.status, 200, response.json.error_description ?? 'a token');
    t.equal(response.headers.get('cache-control'), 'no-store');
    t.equal(response.headers.get('pragma'), 'no-cache');
    t.match(response.json, { token_type: 'Bearer', expires_in: 300, scope: 'system/*.rs' });
    const [, payload] = response.json.access_token.split('.');
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
    t.match(claims, {
      iss: server.auth,
      aud: server.config.auth.audience,
      sub: client_id,
      client_id,
      scope: 'system/*.rs',
      jti: String,
      exp: Number,
      iat: Number,
    });
    const api = await fetch(`${server.base}/Patient`, {
      headers: { authorization: `Bearer ${response.json.access_token}` },
    });
    t.equal(api.status, 200);
    const write = await fetch(`${server.base}/Patient`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${response.json.access_token}`,
        'content-type': 'application/fhir+json',
      },
      body: JSON.stringify({ resourceType: 'Patient' }),
    });
    t.equal(write.status, 403, 'system/*.rs does not create');
  });

  t.test('the granted scope is what was asked of what was registered', async (t) => {
    const ask = (scope: string) =>
      assertion(server, client_id, privateKey, jwk.kid!).then((a) =>
        tokenRequest(server, a, scope),
      );
    const some = await ask('system/Patient.cruds system/Observation.cruds patient/*.rs');
    t.equal(some.status, 200);
    t.equal(some.json.scope, 'system/Patient.cruds', 'less than asked');
    const none = await ask('system/Observation.cruds');
    t.equal(none.status, 400);
    t.equal(none.json.error, 'invalid_scope');
    const user = await ask('user/*.cruds');
    t.equal(user.json.error, 'invalid_scope', 'never a user/ scope');
  });

  t.test('a bad signature, from a key not in the JWKS', async (t) => {
    const other = await keyPair('RS384');
    const signed = await assertion(server, client_id, other.privateKey, jwk.kid!);
    const response = await tokenRequest(server, signed);
    t.equal(response.status, 401);
    t.equal(response.json.error, 'invalid_client');
    t.notMatch(response.text, signed.split('.')[2]!, 'the assertion is not echoed');
  });

  t.test('wrong aud, wrong iss or sub, expired, too far ahead, no jti', async (t) => {
    const cases: [string, JWTPayload][] = [
      ['aud is the FHIR base', { aud: server.base }],
      ['sub is another client', { sub: 'someone-else' }],
      ['expired', { exp: Math.floor(Date.now() / 1000) - 120 }],
      ['ten minutes ahead', { exp: Math.floor(Date.now() / 1000) + 600 }],
      ['no jti', { jti: undefined }],
    ];
    for (const [what, claims] of cases) {
      const signed = await assertion(server, client_id, privateKey, jwk.kid!, 'RS384', claims);
      const response = await tokenRequest(server, signed);
      t.equal(response.status, 401, what);
      t.equal(response.json.error, 'invalid_client', what);
    }
  });

  t.test('a jti is never accepted twice', async (t) => {
    const signed = await assertion(server, client_id, privateKey, jwk.kid!);
    t.equal((await tokenRequest(server, signed)).status, 200);
    const again = await tokenRequest(server, signed);
    t.equal(again.status, 401);
    t.match(again.json.error_description, /jti/);
  });

  t.test('alg none, HS256 keyed with the public key, RS256: all refused', async (t) => {
    const now = Math.floor(Date.now() / 1000);
    const body = { iss: client_id, sub: client_id, aud: `${server.auth}/token`, exp: now + 60 };
    const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const none = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ ...body, jti: randomUUID() })}.`;
    t.equal((await tokenRequest(server, none)).json.error, 'invalid_client', 'none');
    const hmacKey = new TextEncoder().encode(JSON.stringify(jwk));
    const hs = await new SignJWT({ ...body, jti: randomUUID() })
      .setProtectedHeader({ alg: 'HS256', kid: jwk.kid! })
      .sign(hmacKey);
    t.equal((await tokenRequest(server, hs)).json.error, 'invalid_client', 'HS256');
    // The registered key itself, used with RS256 instead of RS384.
    const asRs256 = await importJWK(await exportJWK(privateKey), 'RS256');
    const rs256 = await assertion(server, client_id, asRs256 as Key, jwk.kid!, 'RS256');
    t.equal((await tokenRequest(server, rs256)).status, 401, 'RS256 is not RS384');
  });

  t.test('OAuth errors for malformed requests, never an OperationOutcome', async (t) => {
    const grant = await postForm(`${server.auth}/token`, { grant_type: 'password' });
    t.equal(grant.status, 400);
    t.equal(grant.json.error, 'unsupported_grant_type');
    const json = await fetch(`${server.auth}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"grant_type":"client_credentials"}',
    });
    t.equal(json.status, 400);
    t.match(await json.json(), { error: 'invalid_request' });
    const twice = await postForm(
      `${server.auth}/token`,
      'grant_type=client_credentials&scope=a&scope=b',
    );
    t.equal(twice.json.error, 'invalid_request');
    const anonymous = await postForm(`${server.auth}/token`, { grant_type: 'client_credentials' });
    t.equal(anonymous.status, 401);
    t.equal(anonymous.json.error, 'invalid_client');
    const missing = await fetch(`${server.auth}/nothing-here`);
    t.equal(missing.status, 404);
    t.match(missing.headers.get('content-type'), /^application\/json/);
    const xml = await fetch(`${server.auth}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/xml' },
      body: '<x/>',
    });
    t.equal(xml.status, 415);
    t.match(await xml.json(), { error: 'invalid_request' });
  });
});

t.test('ES384 with a jwks_uri served on loopback, fetched and cached', async (t) => {
  const server = await startBuiltIn(t);
  const { privateKey, jwk } = await keyPair('ES384');
  let fetches = 0;
  const jwksServer = createServer((_req, res) => {
    fetches++;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise((resolve) => jwksServer.close(resolve)));
  const { port } = jwksServer.address() as AddressInfo;
  const { client_id } = await registerClient(server, {
    client_name: 'bulk exporter',
    token_endpoint_auth_method: 'private_key_jwt',
    jwks_uri: `http://127.0.0.1:${port}/jwks.json`,
    scope: 'system/*.rs',
  });
  for (let i = 0; i < 3; i++) {
    const signed = await assertion(server, client_id, privateKey, jwk.kid!, 'ES384');
    const response = await tokenRequest(server, signed);
    t.equal(response.status, 200, response.json.error_description ?? 'a token');
  }
  t.equal(fetches, 1, 'the JWKS was fetched once');
});

t.test('client_secret_basic, and a disabled client', async (t) => {
  const server = await startBuiltIn(t);
  const { client_id, client_secret } = await registerClient(server, {
    client_name: 'reporting',
    token_endpoint_auth_method: 'client_secret_basic',
    scope: 'system/Observation.rs',
  });
  t.ok(client_secret, 'the secret, once');
  const basic = (id: string, secret: string) => ({
    authorization: `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`,
  });
  const ok = await postForm(
    `${server.auth}/token`,
    { grant_type: 'client_credentials' },
    basic(client_id, client_secret!),
  );
  t.equal(ok.status, 200);
  t.equal(ok.json.scope, 'system/Observation.rs');
  const wrong = await postForm(
    `${server.auth}/token`,
    { grant_type: 'client_credentials' },
    basic(client_id, `${client_secret}x`),
  );
  t.equal(wrong.status, 401);
  t.equal(wrong.json.error, 'invalid_client');
  t.match(wrong.headers.get('www-authenticate'), /^Basic/);
  const inBody = await postForm(`${server.auth}/token`, {
    grant_type: 'client_credentials',
    client_id,
    client_secret: client_secret!,
  });
  t.equal(inBody.status, 401, 'client_secret_post is not offered');
});
