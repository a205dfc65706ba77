/**
 * The launch endpoints under hostile input: a seeded fuzz of /auth/authorize (GET and POST),
 * /auth/login, /auth/consent and the token endpoint's user grants — never a 5xx, always HTML
 * (authorize) or OAuth JSON (token). And what a whole launch leaves in the logs: no password,
 * code, token or PKCE verifier.
 */
import t from 'tap';
import { logCapture } from '../helpers.js';
import {
  authorizeUrl,
  codeFor,
  exchange,
  hiddenValue,
  launchSetup,
  PASSWORD,
  pkce,
  startAuthorization,
} from './launch-helpers.js';

/** mulberry32: a small seeded generator, so a failing case can be replayed. */
function random(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

t.test('authorize, login, consent and user grants never answer 5xx (seeded fuzz)', async (t) => {
  const { server, clientId } = await launchSetup(t);
  const { challenge } = pkce();
  const start = await startAuthorization(authorizeUrl(server, clientId, challenge));
  const request = hiddenValue(start.html, 'request');
  const csrf = hiddenValue(start.html, 'csrf');
  const seed = 20261206;
  const next = random(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;
  const values = [
    '',
    clientId,
    request,
    csrf,
    challenge,
    'S256',
    'plain',
    'code',
    'token',
    server.base,
    'http://127.0.0.1:9/app/callback',
    'javascript:alert(1)',
    'openid fhirUser launch/patient patient/*.rs',
    'system/*.*',
    'amy',
    'approve',
    'deny',
    'authorization_code',
    'refresh_token',
    '%00',
    '\u0000\uffff',
    '<script>alert(1)</script>',
    '"><img src=x onerror=alert(1)>',
    'a'.repeat(5000),
    '__proto__',
    '../../etc/passwd',
    '00000000-0000-0000-0000-000000000000',
  ];
  const names = [
    'response_type',
    'client_id',
    'redirect_uri',
    'scope',
    'state',
    'aud',
    'code_challenge',
    'code_challenge_method',
    'launch',
    'nonce',
    'request',
    'csrf',
    'username',
    'password',
    'decision',
    'patient',
    'scope.0',
    'grant_type',
    'code',
    'code_verifier',
    'refresh_token',
  ];
  const types = ['application/x-www-form-urlencoded', 'application/json', 'text/plain', ''];
  const endpoints = [
    ['GET', 'authorize'],
    ['POST', 'authorize'],
    ['POST', 'login'],
    ['POST', 'consent'],
    ['POST', 'token'],
  ] as const;
  const statuses = new Map<number, number>();
  const CASES = 400;
  for (let i = 0; i < CASES; i++) {
    const [method, path] = pick(endpoints);
    // Half the authorize cases start from a valid request and break one or two parameters,
    // so the checks past the client and redirect URI are reached too.
    const valid = path === 'authorize' && next() < 0.5;
    const params = valid
      ? new URL(authorizeUrl(server, clientId, challenge)).searchParams
      : new URLSearchParams();
    const count = Math.floor(next() * (valid ? 3 : 9));
    for (let j = 0; j < count; j++) {
      if (valid) params.set(pick(names), pick(values));
      else params.append(pick(names), pick(values));
    }
    if (path === 'token' && next() < 0.7) {
      params.set('grant_type', pick(['authorization_code', 'refresh_token']));
    }
    const headers: Record<string, string> = {};
    if (next() < 0.5) headers.cookie = pick([start.cookie, 'telefhir_authz=', 'x=%zz']);
    let url = `${server.auth}/${path}`;
    let body: string | undefined;
    if (method === 'GET') url += `?${params}`;
    else {
      const type = pick(types);
      if (type) headers['content-type'] = type;
      body = type === 'application/json' ? JSON.stringify(Object.fromEntries(params)) : `${params}`;
    }
    const response = await fetch(url, { method, headers, body, redirect: 'manual' });
    const text = await response.text();
    statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
    if (response.status >= 500) {
      t.fail(`case ${i} (seed ${seed}): ${method} ${path} ${params} → ${response.status}`);
      continue;
    }
    if (path === 'token') {
      if (!/^application\/json/.test(response.headers.get('content-type') ?? '')) {
        t.fail(`case ${i}: token answered ${response.headers.get('content-type')}`);
      }
    } else if (
      response.status !== 303 &&
      !/^text\/html/.test(response.headers.get('content-type') ?? '')
    ) {
      t.fail(
        `case ${i}: ${path} answered ${response.status} ${response.headers.get('content-type')}`,
      );
    }
    if (/<script>alert|onerror=alert/.test(text)) t.fail(`case ${i}: unescaped input echoed`);
    const location = response.headers.get('location');
    if (location && !location.startsWith('http://127.0.0.1:9/app/callback')) {
      t.fail(`case ${i}: redirected to ${location}`);
    }
  }
  const counted = [...statuses.values()].reduce((a, b) => a + b, 0);
  t.equal(counted, CASES, `every case answered: ${JSON.stringify(Object.fromEntries(statuses))}`);
  t.notOk(
    [...statuses.keys()].some((status) => Number(status) >= 500),
    'no status of 500 or above',
  );
});

t.test('no password, code, token or verifier in the logs', async (t) => {
  const logs = logCapture();
  const { server, clientId } = await launchSetup(
    t,
    { logLevel: 'trace' },
    { logStream: logs.stream },
  );
  const { code, verifier } = await codeFor(server, clientId);
  const token = await exchange(server, clientId, code, verifier);
  t.equal(token.status, 200);
  const again = await exchange(server, clientId, code, verifier);
  t.equal(again.status, 400);
  const text = logs.text();
  t.ok(text.length > 0, 'something was logged');
  for (const [what, secret] of [
    ['password', PASSWORD],
    ['code', code],
    ['verifier', verifier],
    ['access token', token.json.access_token.split('.')[2]],
    ['refresh token', token.json.refresh_token],
    ['id token', token.json.id_token.split('.')[2]],
  ]) {
    t.notOk(text.includes(secret), `no ${what} in the logs`);
  }
});
