/**
 * Input that must be refused as the client's error: scope tokens outside RFC 6749's charset
 * (a U+00A0 that parseScopes would split on), and control characters in credentials.
 */
import t from 'tap';
import { SignJWT } from 'jose';
import { authorizeUrl, launchSetup, pkce } from './launch-helpers.js';
import { postForm, registerClient } from './helpers.js';

const basic = (id: string, secret: string) => ({
  authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`,
});

t.test('a scope token outside the RFC 6749 charset is invalid_scope everywhere', async (t) => {
  const { server, clientId } = await launchSetup(t);
  const { challenge } = pkce();
  const smuggled = 'launch/patient patient/*.rs\u00a0system/*.cruds';
  const authorize = await fetch(authorizeUrl(server, clientId, challenge, { scope: smuggled }), {
    redirect: 'manual',
  });
  t.equal(authorize.status, 303, 'back to the app');
  const location = new URL(authorize.headers.get('location')!);
  t.equal(location.searchParams.get('error'), 'invalid_scope');

  const service = await registerClient(server, {
    client_name: 'svc',
    token_endpoint_auth_method: 'client_secret_basic',
    scope: 'system/*.rs',
  });
  const token = await postForm(
    `${server.auth}/token`,
    { grant_type: 'client_credentials', scope: 'system/*.rs system/Patient.rs\u00a0x' },
    basic(service.client_id, service.client_secret!),
  );
  t.equal(token.status, 400);
  t.equal(token.json.error, 'invalid_scope');
  const refresh = await postForm(`${server.auth}/token`, {
    grant_type: 'refresh_token',
    refresh_token: 'x',
    client_id: clientId,
    scope: 'openid\u00a0system/*.cruds',
  });
  t.equal(refresh.status, 400);
  t.equal(refresh.json.error, 'invalid_scope');
});

t.test('control characters in client credentials are invalid_client, not a 500', async (t) => {
  const { server } = await launchSetup(t);
  const nul = await postForm(
    `${server.auth}/token`,
    { grant_type: 'client_credentials' },
    basic('a\u0000b', 'x'),
  );
  t.equal(nul.status, 401);
  t.equal(nul.json.error, 'invalid_client');
  const encoded = await postForm(
    `${server.auth}/token`,
    { grant_type: 'client_credentials' },
    basic('a%00b', 'x'),
  );
  t.equal(encoded.status, 401, 'nor form-encoded inside Basic');
  const key = new TextEncoder().encode('k'.repeat(48));
  for (const claims of [{ iss: 'a\u0000b', sub: 'a' }, { iss: 'x\u0001' }]) {
    const assertion = await new SignJWT({ ...claims, jti: 'j\u0000' })
      .setProtectedHeader({ alg: 'HS384' })
      .setExpirationTime('1m')
      .sign(key);
    const response = await postForm(`${server.auth}/token`, {
      grant_type: 'client_credentials',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: assertion,
    });
    t.equal(response.status, 401, JSON.stringify(claims));
    t.equal(response.json.error, 'invalid_client');
  }
});
