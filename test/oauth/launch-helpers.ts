/**
 * A standalone launch driven with fetch, as a browser would: the authorization request, the
 * sign-in form, the consent form, the redirect back with a code, the token request.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Users } from '../../src/oauth/users.js';
import { fhir } from '../helpers.js';
import { devToken, postForm, registerClient, startBuiltIn, type BuiltIn } from './helpers.js';

type Tap = Parameters<typeof startBuiltIn>[0];

export const REDIRECT = 'http://127.0.0.1:9/app/callback';
export const APP_SCOPE = 'openid fhirUser launch/patient offline_access patient/*.rs';
export const PASSWORD = 'amy-secret-password';

export function pkce() {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  return { verifier, challenge };
}

/** A server with a patient (Patient/p1, Amy) who can sign in, and a public app registered. */
export async function launchSetup(
  t: Tap,
  overrides: Parameters<typeof startBuiltIn>[1] = {},
  parts: Parameters<typeof startBuiltIn>[2] = {},
) {
  const server = await startBuiltIn(t, overrides, parts);
  const admin = devToken(server.config, { scope: 'system/*.*' });
  for (const [id, family] of [
    ['p1', 'Amy'],
    ['p2', 'Bob'],
  ]) {
    const put = await fhir(
      server.base,
      'PUT',
      `Patient/${id}`,
      { resourceType: 'Patient', id, name: [{ family, given: ['Test'] }] },
      { authorization: `Bearer ${admin}` },
    );
    if (put.status >= 300) throw new Error(`Patient/${id}: ${put.status}`);
  }
  const users = new Users(server.app.oauthServer!.db);
  await users.add({ username: 'amy', password: PASSWORD, fhirUser: 'Patient/p1', role: 'PATIENT' });
  const client = await registerClient(server, {
    client_name: 'Amy <b>App</b>',
    token_endpoint_auth_method: 'none',
    redirect_uris: [REDIRECT],
    grant_types: ['authorization_code', 'refresh_token'],
    scope: APP_SCOPE,
  });
  return { server, users, clientId: client.client_id, admin };
}

export function hiddenValue(html: string, name: string): string {
  const match = new RegExp(`name="${name}" value="([^"]*)"`).exec(html);
  if (!match) throw new Error(`no hidden ${name} in the page`);
  return match[1]!;
}

export function authorizeUrl(
  server: BuiltIn,
  clientId: string,
  challenge: string,
  overrides: Record<string, string | undefined> = {},
) {
  const params: Record<string, string | undefined> = {
    response_type: 'code',
    client_id: clientId,
    redirect_uri: REDIRECT,
    scope: APP_SCOPE,
    state: 'state-123',
    aud: server.base,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    nonce: 'nonce-456',
    ...overrides,
  };
  const query = new URLSearchParams(
    Object.entries(params).filter((e): e is [string, string] => e[1] !== undefined),
  );
  return `${server.auth}/authorize?${query}`;
}

/** GET /auth/authorize: the sign-in page, its form fields and the browser-binding cookie. */
export async function startAuthorization(url: string) {
  const response = await fetch(url, { redirect: 'manual' });
  const html = await response.text();
  const cookie = (response.headers.get('set-cookie') ?? '').split(';')[0]!;
  return { response, html, cookie };
}

export async function postPage(
  url: string,
  form: Record<string, string>,
  cookie: string,
): Promise<{ status: number; headers: Headers; html: string }> {
  const response = await fetch(url, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
    body: new URLSearchParams(form).toString(),
  });
  return { status: response.status, headers: response.headers, html: await response.text() };
}

/** Sign in and approve everything offered; returns the redirect back to the app. */
export async function signInAndApprove(
  server: BuiltIn,
  url: string,
  username = 'amy',
  password = PASSWORD,
  extra: Record<string, string> = {},
) {
  const start = await startAuthorization(url);
  if (start.response.status !== 200) throw new Error(`authorize: ${start.response.status}`);
  const login = await postPage(
    `${server.auth}/login`,
    {
      request: hiddenValue(start.html, 'request'),
      csrf: hiddenValue(start.html, 'csrf'),
      username,
      password,
    },
    start.cookie,
  );
  if (login.status !== 200) throw new Error(`login: ${login.status}`);
  const scopes = [...login.html.matchAll(/name="(scope\.\d+)" value="([^"]*)"/g)].map(
    (m) => [m[1]!, m[2]!.replace(/&#47;/g, '/')] as [string, string],
  );
  const consent = await postPage(
    `${server.auth}/consent`,
    {
      request: hiddenValue(login.html, 'request'),
      csrf: hiddenValue(login.html, 'csrf'),
      decision: 'approve',
      ...Object.fromEntries(scopes),
      ...extra,
    },
    start.cookie,
  );
  return { consent, loginHtml: login.html, cookie: start.cookie };
}

/** The whole launch up to the code. */
export async function codeFor(server: BuiltIn, clientId: string, overrides = {}) {
  const { verifier, challenge } = pkce();
  const { consent } = await signInAndApprove(
    server,
    authorizeUrl(server, clientId, challenge, overrides),
  );
  const location = new URL(consent.headers.get('location') ?? 'http://invalid/');
  const code = location.searchParams.get('code');
  if (!code) throw new Error(`no code: ${location}`);
  return { code, verifier, location };
}

export function exchange(
  server: BuiltIn,
  clientId: string,
  code: string,
  verifier: string,
  extra: Record<string, string> = {},
) {
  return postForm(`${server.auth}/token`, {
    grant_type: 'authorization_code',
    code,
    redirect_uri: REDIRECT,
    code_verifier: verifier,
    client_id: clientId,
    ...extra,
  });
}

export async function apiStatus(server: BuiltIn, token: string, path = 'Patient/p1') {
  const response = await fetch(`${server.base}/${path}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  await response.arrayBuffer();
  return response.status;
}
