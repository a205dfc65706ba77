/**
 * Users and sign-in: passwords kept only as scrypt hashes, wrong passwords rate-limited per
 * account and per address (state in Postgres), every attempt audited (Login, outcome 4 or 0)
 * without the password, and a disabled user's tokens refused by the FHIR API at once.
 */
import t from 'tap';
import { ACCOUNT_FAILURE_LIMIT } from '../../src/oauth/login.js';
import {
  apiStatus,
  authorizeUrl,
  codeFor,
  exchange,
  hiddenValue,
  launchSetup,
  PASSWORD,
  pkce,
  postPage,
  startAuthorization,
} from './launch-helpers.js';
import type { BuiltIn } from './helpers.js';

async function tryLogin(server: BuiltIn, clientId: string, username: string, password: string) {
  const start = await startAuthorization(authorizeUrl(server, clientId, pkce().challenge));
  return postPage(
    `${server.auth}/login`,
    {
      request: hiddenValue(start.html, 'request'),
      csrf: hiddenValue(start.html, 'csrf'),
      username,
      password,
    },
    start.cookie,
  );
}

async function loginEvents(server: BuiltIn) {
  const rows = await server.app.oauthServer!.db.query<{ content: unknown }>(
    `SELECT json::json AS content FROM audit_event
     WHERE json::json->'subtype'->0->>'code' = '110122' ORDER BY seq`,
  );
  return rows.map((r) => (typeof r.content === 'string' ? JSON.parse(r.content) : r.content));
}

t.test('users: hashed passwords, checked fields', async (t) => {
  const { server, users } = await launchSetup(t);
  const [row] = await server.app.oauthServer!.db.query<{ password_hash: string }>(
    `SELECT password_hash FROM oauth_user WHERE username = 'amy'`,
  );
  t.match(row!.password_hash, /^scrypt\$/);
  t.notMatch(row!.password_hash, PASSWORD);
  await users.add({ username: 'zoe', password: PASSWORD, fhirUser: 'Patient/p2', role: 'PATIENT' });
  const [a, b] = await server.app.oauthServer!.db.query<{ password_hash: string }>(
    `SELECT password_hash FROM oauth_user WHERE username IN ('amy', 'zoe')`,
  );
  t.not(a!.password_hash, b!.password_hash, 'a salt of its own: same password, other hash');
  for (const bad of [
    { username: 'amy', password: PASSWORD, fhirUser: 'Patient/p1', role: 'PATIENT' },
    { username: 'x y', password: PASSWORD, fhirUser: 'Patient/p1', role: 'PATIENT' },
    { username: 'short', password: 'short', fhirUser: 'Patient/p1', role: 'PATIENT' },
    { username: 'pat', password: PASSWORD, fhirUser: 'Practitioner/1', role: 'PATIENT' },
    { username: 'org', password: PASSWORD, fhirUser: 'Organization/1', role: 'ADMIN' },
    { username: 'who', password: PASSWORD, fhirUser: 'Patient/1', role: 'KING' },
  ]) {
    await t.rejects(
      users.add(bad),
      { name: 'UserError' },
      JSON.stringify({ ...bad, password: '*' }),
    );
  }
});

t.test('wrong passwords: refused, audited, then rate-limited', async (t) => {
  const { server, clientId } = await launchSetup(t);
  const wrong = await tryLogin(server, clientId, 'amy', 'not-the-password');
  t.equal(wrong.status, 401);
  t.match(wrong.html, /Wrong username or password/);
  t.notMatch(wrong.html, /Allow access/);
  const unknown = await tryLogin(server, clientId, 'nobody', 'not-the-password');
  t.equal(unknown.status, 401);
  t.equal(
    unknown.html.replace(/value="[^"]*"/g, ''),
    wrong.html.replace(/value="[^"]*"/g, ''),
    'an unknown user looks like a wrong password',
  );
  for (let i = 1; i < ACCOUNT_FAILURE_LIMIT; i++) {
    t.equal((await tryLogin(server, clientId, 'amy', `wrong-${i}-password`)).status, 401);
  }
  const locked = await tryLogin(server, clientId, 'amy', PASSWORD);
  t.equal(locked.status, 429, 'even the right password, once the account is locked');
  t.match(locked.html, /Too many failed sign-ins/);

  const events = await loginEvents(server);
  const failures = events.filter((e) => e.outcome === '4');
  t.ok(failures.length >= ACCOUNT_FAILURE_LIMIT + 1, `${failures.length} failures audited`);
  t.match(failures[0], {
    type: { code: '110114' },
    subtype: [{ code: '110122', display: 'Login' }],
    agent: [
      { who: { identifier: { value: 'amy' } }, altId: clientId, network: { address: String } },
    ],
  });
  const all = JSON.stringify(events);
  t.notMatch(all, 'not-the-password', 'no password in the audit trail');
  t.notMatch(all, PASSWORD);

  await server.app.oauthServer!.db.query(
    `DELETE FROM oauth_login_failure WHERE subject = 'user:amy'`,
  );
  const ok = await tryLogin(server, clientId, 'amy', PASSWORD);
  t.equal(ok.status, 200, 'once the window passes');
  const success = (await loginEvents(server)).filter((e) => e.outcome === '0');
  t.equal(success.length, 1, 'the success is audited');
  t.match(success[0].agent[0].who, { reference: 'Patient/p1' });
});

t.test('failures from one address are limited across accounts', async (t) => {
  const { server, clientId } = await launchSetup(t);
  const db = server.app.oauthServer!.db;
  // 20 failures already from this address (127.0.0.1), each against another account.
  await db.query(
    `INSERT INTO oauth_login_failure (subject) SELECT 'addr:127.0.0.1' FROM generate_series(1, 20)`,
  );
  const locked = await tryLogin(server, clientId, 'amy', PASSWORD);
  t.equal(locked.status, 429);
});

t.test('a disabled user: tokens refused by the API, no sign-in, no refresh', async (t) => {
  const { server, clientId, users } = await launchSetup(t);
  const { code, verifier } = await codeFor(server, clientId);
  const token = await exchange(server, clientId, code, verifier);
  t.equal(await apiStatus(server, token.json.access_token), 200);
  t.ok(await users.disable('AMY'), 'disable (names compare case-insensitively)');
  t.equal(await apiStatus(server, token.json.access_token), 401, 'the access token is revoked');
  const refresh = await fetch(`${server.auth}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'refresh_token',
      refresh_token: token.json.refresh_token,
      client_id: clientId,
    }).toString(),
  });
  t.equal(refresh.status, 400);
  t.equal((await refresh.json()).error, 'invalid_grant');
  const login = await tryLogin(server, clientId, 'amy', PASSWORD);
  t.equal(login.status, 401, 'cannot sign in');
  t.notOk(await users.disable('nobody'), 'no such user');
});

t.test('a burst of wrong passwords gets at most the limit of guesses checked', async (t) => {
  const { server, clientId } = await launchSetup(t);
  const db = server.app.oauthServer!.db;
  t.equal((await tryLogin(server, clientId, 'amy', PASSWORD)).status, 200);
  const counted = async (subject: string) =>
    (await db.query('SELECT 1 FROM oauth_login_failure WHERE subject = $1', [subject])).length;
  t.equal(await counted('addr:127.0.0.1'), 0, 'a good sign-in counts against nothing');

  // The forms first, then every password at once; the name in three spellings, one account.
  const starts = await Promise.all(
    Array.from({ length: 12 }, () =>
      startAuthorization(authorizeUrl(server, clientId, pkce().challenge)),
    ),
  );
  const answers = await Promise.all(
    starts.map((start, i) =>
      postPage(
        `${server.auth}/login`,
        {
          request: hiddenValue(start.html, 'request'),
          csrf: hiddenValue(start.html, 'csrf'),
          username: ['amy', 'AMY', ' Amy '][i % 3]!,
          password: `wrong-${i}-password`,
        },
        start.cookie,
      ),
    ),
  );
  const statuses = answers.map((a) => a.status);
  t.equal(statuses.filter((s) => s === 401).length, ACCOUNT_FAILURE_LIMIT, statuses.join(' '));
  t.equal(statuses.filter((s) => s === 429).length, 12 - ACCOUNT_FAILURE_LIMIT);
  t.equal(await counted('user:amy'), ACCOUNT_FAILURE_LIMIT, 'one account, whatever the case');
  t.equal((await tryLogin(server, clientId, 'Amy', PASSWORD)).status, 429, 'still locked');
});
