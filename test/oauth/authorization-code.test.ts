/**
 * SMART App Launch 2.2 standalone patient launch against the built-in server: authorize, sign
 * in, consent, code, token, the FHIR API — and every way a step can be wrong: bad client or
 * redirect URI (an error page, never a redirect), wrong aud or PKCE (an error redirect), a
 * bad verifier, a replayed or expired code, a forged form.
 */
import t from 'tap';
import { createLocalJWKSet, jwtVerify } from 'jose';
import {
  APP_SCOPE,
  apiStatus,
  authorizeUrl,
  codeFor,
  exchange,
  hiddenValue,
  launchSetup,
  pkce,
  postPage,
  REDIRECT,
  startAuthorization,
} from './launch-helpers.js';

t.test('standalone patient launch, end to end', async (t) => {
  const { server, clientId } = await launchSetup(t);
  const { challenge, verifier } = pkce();
  const start = await startAuthorization(authorizeUrl(server, clientId, challenge));

  t.test('the sign-in page is a plain form, locked down', async (t) => {
    t.equal(start.response.status, 200);
    const h = start.response.headers;
    t.match(h.get('content-type'), /^text\/html/);
    t.match(h.get('content-security-policy'), /default-src 'none'/);
    t.match(h.get('content-security-policy'), /frame-ancestors 'none'/);
    t.equal(h.get('x-frame-options'), 'DENY');
    t.equal(h.get('cache-control'), 'no-store');
    t.match(start.html, /<form method="post"/);
    t.match(start.html, /name="username"/);
    t.match(start.html, /name="password" type="password"/);
    t.notMatch(start.html, /<script/i, 'no script');
    t.notMatch(start.html, /<b>App<\/b>/, 'the client name is escaped');
    t.match(start.html, /Amy &#60;b&#62;App/);
    t.match(start.cookie, /^telefhir_authz=/);
    t.match(h.get('set-cookie'), /HttpOnly/);
    t.match(h.get('set-cookie'), /SameSite=Lax/);
  });

  t.test('sign in, approve, and the code comes back with the state', async (t) => {
    const login = await postPage(
      `${server.auth}/login`,
      {
        request: hiddenValue(start.html, 'request'),
        csrf: hiddenValue(start.html, 'csrf'),
        username: 'AMY',
        password: 'amy-secret-password',
      },
      start.cookie,
    );
    t.equal(login.status, 200);
    t.match(login.html, /Allow access/);
    t.notMatch(login.html, /name="patient"/, 'a patient picks no patient: it is them');
    t.notMatch(login.html, /<script/i);
    t.not(hiddenValue(login.html, 'csrf'), hiddenValue(start.html, 'csrf'), 'CSRF token rotates');
    // Leave offline_access unchecked: no refresh token.
    const scopes = [...login.html.matchAll(/name="(scope\.\d+)" value="([^"]*)"/g)]
      .map((m) => [m[1]!, m[2]!.replace(/&#47;/g, '/')] as [string, string])
      .filter(([, scope]) => scope !== 'offline_access');
    const consent = await postPage(
      `${server.auth}/consent`,
      {
        request: hiddenValue(login.html, 'request'),
        csrf: hiddenValue(login.html, 'csrf'),
        decision: 'approve',
        ...Object.fromEntries(scopes),
      },
      start.cookie,
    );
    t.equal(consent.status, 303);
    const location = new URL(consent.headers.get('location')!);
    t.equal(`${location.origin}${location.pathname}`, REDIRECT);
    t.equal(location.searchParams.get('state'), 'state-123');
    const code = location.searchParams.get('code')!;
    t.ok(code && code.length >= 43, 'a code');

    const token = await exchange(server, clientId, code, verifier, {});
    t.equal(token.status, 200, token.text);
    t.equal(token.headers.get('cache-control'), 'no-store');
    t.equal(token.headers.get('pragma'), 'no-cache');
    t.match(token.json, {
      token_type: 'Bearer',
      expires_in: Number,
      scope: 'openid fhirUser launch/patient patient/*.rs',
      patient: 'p1',
      fhirContext: [{ reference: 'Patient/p1' }],
      id_token: String,
    });
    t.notOk(token.json.refresh_token, 'no refresh token without offline_access');
    const claims = JSON.parse(
      Buffer.from(token.json.access_token.split('.')[1], 'base64url').toString(),
    );
    t.match(claims, {
      iss: server.auth,
      sub: 'amy',
      client_id: clientId,
      role: 'PATIENT',
      patient: 'p1',
      fhirUser: `${server.base}/Patient/p1`,
      jti: String,
    });
    const jwks = createLocalJWKSet(await (await fetch(`${server.auth}/jwks`)).json());
    const { payload, protectedHeader } = await jwtVerify(token.json.id_token, jwks, {
      issuer: server.auth,
      audience: clientId,
    });
    t.equal(protectedHeader.alg, 'RS256');
    t.match(payload, { sub: 'amy', fhirUser: `${server.base}/Patient/p1`, nonce: 'nonce-456' });

    t.equal(await apiStatus(server, token.json.access_token), 200, 'reads their own record');
    const other = await apiStatus(server, token.json.access_token, 'Patient/p2');
    t.ok([403, 404].includes(other), `not another patient's (${other})`);
  });

  t.test('offline_access brings a refresh token; CORS answers the app origin', async (t) => {
    const { code, verifier } = await codeFor(server, clientId);
    const response = await fetch(`${server.auth}/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        origin: 'http://127.0.0.1:9',
      },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code,
        redirect_uri: REDIRECT,
        code_verifier: verifier,
        client_id: clientId,
      }).toString(),
    });
    t.equal(response.status, 200);
    t.equal(response.headers.get('access-control-allow-origin'), 'http://127.0.0.1:9');
    const body = await response.json();
    t.equal(body.scope, APP_SCOPE);
    t.type(body.refresh_token, 'string');
  });
});

t.test('a bad client or redirect URI gets an error page, never a redirect', async (t) => {
  const { server, clientId } = await launchSetup(t);
  const { challenge } = pkce();
  for (const [why, overrides] of [
    ['unknown client', { client_id: 'no-such-client' }],
    ['no client', { client_id: undefined }],
    ['unregistered redirect URI', { redirect_uri: 'https://evil.example/cb' }],
    ['redirect URI differing by a slash', { redirect_uri: `${REDIRECT}/` }],
    ['no redirect URI', { redirect_uri: undefined }],
  ] as const) {
    const { response, html } = await startAuthorization(
      authorizeUrl(server, clientId, challenge, overrides),
    );
    t.equal(response.status, 400, why);
    t.notOk(response.headers.get('location'), `${why}: no redirect`);
    t.match(response.headers.get('content-type'), /^text\/html/);
    t.notMatch(html, /evil\.example/, 'the bad URI is not echoed as a link');
  }
  const repeated = await fetch(
    `${authorizeUrl(server, clientId, challenge)}&client_id=${clientId}`,
    { redirect: 'manual' },
  );
  t.equal(repeated.status, 400, 'a repeated parameter');
});

t.test('wrong aud, plain or missing PKCE: an error redirect, no code', async (t) => {
  const { server, clientId } = await launchSetup(t);
  const { challenge } = pkce();
  for (const [why, overrides, error] of [
    ['wrong aud', { aud: 'https://other.example/fhir' }, 'invalid_request'],
    ['no aud', { aud: undefined }, 'invalid_request'],
    [
      'plain PKCE',
      { code_challenge_method: 'plain', code_challenge: 'x'.repeat(43) },
      'invalid_request',
    ],
    ['no PKCE', { code_challenge_method: undefined, code_challenge: undefined }, 'invalid_request'],
    ['short challenge', { code_challenge: 'abc' }, 'invalid_request'],
    ['response_type token', { response_type: 'token' }, 'unsupported_response_type'],
    ['only system/ scopes', { scope: 'system/*.rs' }, 'invalid_scope'],
  ] as const) {
    const { response } = await startAuthorization(
      authorizeUrl(server, clientId, challenge, overrides as Record<string, string>),
    );
    t.equal(response.status, 303, why);
    const location = new URL(response.headers.get('location')!);
    t.equal(`${location.origin}${location.pathname}`, REDIRECT, why);
    t.equal(location.searchParams.get('error'), error, why);
    t.equal(location.searchParams.get('state'), 'state-123', `${why}: state kept`);
    t.notOk(location.searchParams.get('code'), `${why}: no code`);
  }
});

t.test('the code is bound to its verifier, client, redirect URI; single-use; 60 s', async (t) => {
  const { server, clientId, admin } = await launchSetup(t);
  const db = server.app.oauthServer!.db;

  t.test('a wrong verifier is invalid_grant, and spends the code', async (t) => {
    const { code, verifier } = await codeFor(server, clientId);
    const wrong = await exchange(server, clientId, code, pkce().verifier);
    t.equal(wrong.status, 400);
    t.equal(wrong.json.error, 'invalid_grant');
    const missing = await exchange(server, clientId, code, '');
    t.equal(missing.json.error, 'invalid_request', 'no verifier at all');
    const right = await exchange(server, clientId, code, verifier);
    t.equal(right.json.error, 'invalid_grant', 'the code is spent');
  });

  t.test('another redirect URI or client is invalid_grant', async (t) => {
    const { code, verifier } = await codeFor(server, clientId);
    const other = await exchange(server, clientId, code, verifier, {
      redirect_uri: 'http://127.0.0.1:9/other',
    });
    t.equal(other.json.error, 'invalid_grant');
    const second = await codeFor(server, clientId);
    const stranger = await exchange(server, 'no-such-client', second.code, second.verifier);
    t.equal(stranger.status, 401);
    t.equal(stranger.json.error, 'invalid_client');
  });

  t.test('a replayed code is refused and revokes the tokens it issued', async (t) => {
    const { code, verifier } = await codeFor(server, clientId);
    const first = await exchange(server, clientId, code, verifier);
    t.equal(first.status, 200);
    t.equal(await apiStatus(server, first.json.access_token), 200);
    const replay = await exchange(server, clientId, code, verifier);
    t.equal(replay.status, 400);
    t.equal(replay.json.error, 'invalid_grant');
    t.equal(await apiStatus(server, first.json.access_token), 401, 'the first token is revoked');
    const refreshed = await fetch(`${server.auth}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: first.json.refresh_token,
        client_id: clientId,
      }).toString(),
    });
    t.equal(refreshed.status, 400, 'and its refresh token');
  });

  t.test('an expired code is refused', async (t) => {
    const { code, verifier } = await codeFor(server, clientId);
    await db.query(`UPDATE oauth_code SET expires_at = now() - interval '1 second'`);
    const late = await exchange(server, clientId, code, verifier);
    t.equal(late.status, 400);
    t.equal(late.json.error, 'invalid_grant');
    t.match(late.json.error_description, /expired/);
  });

  t.test('codes live at most 60 s', async (t) => {
    await codeFor(server, clientId);
    const [row] = await db.query<{ seconds: number }>(
      `SELECT extract(epoch FROM max(expires_at) - now())::float AS seconds FROM oauth_code`,
    );
    t.ok(row!.seconds <= 60 && row!.seconds > 0, `${row!.seconds} s`);
  });
  void admin;
});

t.test('forged forms: CSRF token and browser binding', async (t) => {
  const { server, clientId } = await launchSetup(t);
  const { challenge } = pkce();
  const start = await startAuthorization(authorizeUrl(server, clientId, challenge));
  const request = hiddenValue(start.html, 'request');
  const csrf = hiddenValue(start.html, 'csrf');
  const login = (form: Record<string, string>, cookie = start.cookie) =>
    postPage(
      `${server.auth}/login`,
      { username: 'amy', password: 'amy-secret-password', ...form },
      cookie,
    );
  for (const [why, form, cookie] of [
    ['no CSRF token', { request }, start.cookie],
    ['a wrong CSRF token', { request, csrf: csrf.slice(0, -2) + 'xx' }, start.cookie],
    ['another browser (no cookie)', { request, csrf }, ''],
    ['another browser (its own cookie)', { request, csrf }, 'telefhir_authz=' + 'a'.repeat(43)],
    ['no request', { csrf }, start.cookie],
  ] as const) {
    const refused = await login(form, cookie);
    t.equal(refused.status, 400, why);
    t.notMatch(refused.html, /Allow access/, `${why}: not signed in`);
  }
  const consent = await postPage(
    `${server.auth}/consent`,
    { request, csrf, decision: 'approve', 'scope.0': 'openid' },
    start.cookie,
  );
  t.equal(consent.status, 400, 'consent before sign-in');
  t.notOk(consent.headers.get('location'));
  const ok = await login({ request, csrf });
  t.equal(ok.status, 200, 'the real form still works');
  const again = await login({ request, csrf });
  t.equal(again.status, 400, 'the sign-in CSRF token is spent');
});

t.test('deny sends access_denied back to the app', async (t) => {
  const { server, clientId } = await launchSetup(t);
  const { challenge } = pkce();
  const start = await startAuthorization(authorizeUrl(server, clientId, challenge));
  const login = await postPage(
    `${server.auth}/login`,
    {
      request: hiddenValue(start.html, 'request'),
      csrf: hiddenValue(start.html, 'csrf'),
      username: 'amy',
      password: 'amy-secret-password',
    },
    start.cookie,
  );
  const deny = await postPage(
    `${server.auth}/consent`,
    {
      request: hiddenValue(login.html, 'request'),
      csrf: hiddenValue(login.html, 'csrf'),
      decision: 'deny',
    },
    start.cookie,
  );
  t.equal(deny.status, 303);
  const location = new URL(deny.headers.get('location')!);
  t.equal(location.searchParams.get('error'), 'access_denied');
  t.equal(location.searchParams.get('state'), 'state-123');
});
