/**
 * Refresh tokens: rotate on every use, may narrow the scope (never widen it), and a rotated one
 * presented again revokes the whole grant — every access token it issued gets 401 at the API.
 * Also a confidential client (client_secret_basic) in the authorization code flow, and a
 * provider choosing the patient for launch/patient.
 */
import t from 'tap';
import {
  apiStatus,
  authorizeUrl,
  codeFor,
  exchange,
  launchSetup,
  pkce,
  REDIRECT,
  signInAndApprove,
} from './launch-helpers.js';
import { Grants } from '../../src/oauth/grants.js';
import { postForm, registerClient, type BuiltIn } from './helpers.js';

const refresh = (server: BuiltIn, form: Record<string, string>, headers = {}) =>
  postForm(`${server.auth}/token`, { grant_type: 'refresh_token', ...form }, headers);

t.test('refresh tokens rotate; reuse revokes the family', async (t) => {
  const { server, clientId } = await launchSetup(t);
  const { code, verifier } = await codeFor(server, clientId);
  const first = await exchange(server, clientId, code, verifier);
  t.type(first.json.refresh_token, 'string');

  const second = await refresh(server, {
    refresh_token: first.json.refresh_token,
    client_id: clientId,
  });
  t.equal(second.status, 200, second.text);
  t.equal(second.headers.get('cache-control'), 'no-store');
  t.not(second.json.refresh_token, first.json.refresh_token, 'rotated');
  t.equal(second.json.patient, 'p1');
  t.equal(await apiStatus(server, second.json.access_token), 200);

  const narrow = await refresh(server, {
    refresh_token: second.json.refresh_token,
    client_id: clientId,
    scope: 'patient/*.rs launch/patient offline_access',
  });
  t.equal(narrow.status, 200);
  t.equal(narrow.json.scope, 'patient/*.rs launch/patient offline_access');
  const wider = await refresh(server, {
    refresh_token: narrow.json.refresh_token,
    client_id: clientId,
    scope: 'patient/*.cruds',
  });
  t.equal(wider.json.error, 'invalid_scope', 'never wider');

  const other = await registerClient(server, {
    client_name: 'other',
    token_endpoint_auth_method: 'none',
    redirect_uris: [REDIRECT],
    grant_types: ['authorization_code', 'refresh_token'],
  });
  const stolen = await refresh(server, {
    refresh_token: narrow.json.refresh_token,
    client_id: other.client_id,
  });
  t.equal(stolen.json.error, 'invalid_grant', "another client can't use it");

  const reused = await refresh(server, {
    refresh_token: first.json.refresh_token,
    client_id: clientId,
  });
  t.equal(reused.status, 400);
  t.equal(reused.json.error, 'invalid_grant');
  t.match(reused.json.error_description, /revoked/);
  for (const token of [first, second, narrow]) {
    t.equal(await apiStatus(server, token.json.access_token), 401, 'every token of the family');
  }
  const latest = await refresh(server, {
    refresh_token: narrow.json.refresh_token,
    client_id: clientId,
  });
  t.equal(latest.json.error, 'invalid_grant', 'the latest refresh token too');
  const garbage = await refresh(server, { refresh_token: 'nope', client_id: clientId });
  t.equal(garbage.json.error, 'invalid_grant');
  const none = await refresh(server, { client_id: clientId });
  t.equal(none.json.error, 'invalid_request');
});

t.test('a confidential client authenticates with client_secret_basic', async (t) => {
  const { server } = await launchSetup(t);
  const client = await registerClient(server, {
    client_name: 'portal',
    token_endpoint_auth_method: 'client_secret_basic',
    redirect_uris: [REDIRECT],
    grant_types: ['authorization_code', 'refresh_token'],
  });
  const basic = `Basic ${Buffer.from(`${client.client_id}:${client.client_secret}`).toString('base64')}`;
  const { code, verifier } = await codeFor(server, client.client_id);
  const without = await exchange(server, client.client_id, code, verifier);
  t.equal(without.status, 401, 'a confidential client must authenticate');
  t.equal(without.json.error, 'invalid_client');
  const again = await codeFor(server, client.client_id);
  const ok = await postForm(
    `${server.auth}/token`,
    {
      grant_type: 'authorization_code',
      code: again.code,
      redirect_uri: REDIRECT,
      code_verifier: again.verifier,
    },
    { authorization: basic },
  );
  t.equal(ok.status, 200, ok.text);
  const wrong = `Basic ${Buffer.from(`${client.client_id}:wrong`).toString('base64')}`;
  const bad = await refresh(
    server,
    { refresh_token: ok.json.refresh_token },
    { authorization: wrong },
  );
  t.equal(bad.status, 401);
  const good = await refresh(
    server,
    { refresh_token: ok.json.refresh_token },
    { authorization: basic },
  );
  t.equal(good.status, 200);
});

t.test('a provider picks the patient for launch/patient among those they may see', async (t) => {
  const { server, users, clientId } = await launchSetup(t, { providerAccess: 'all' });
  await users.add({
    username: 'dr-who',
    password: 'provider-password',
    fhirUser: 'Practitioner/d1',
    role: 'PROVIDER',
  });
  const { challenge, verifier } = pkce();
  const scope = 'openid fhirUser launch/patient patient/*.rs';
  const url = authorizeUrl(server, clientId, challenge, { scope });
  const none = await signInAndApprove(server, url, 'dr-who', 'provider-password');
  t.equal(none.consent.status, 400, 'no patient chosen: asked again');
  t.match(none.consent.html, /Choose a patient/);
  t.match(none.loginHtml, /name="patient" value="p1"/);
  t.match(none.loginHtml, /name="patient" value="p2"/);
  const invented = await signInAndApprove(server, url, 'dr-who', 'provider-password', {
    patient: 'p404',
  });
  t.equal(invented.consent.status, 400, 'a patient not on the list is refused');
  const chosen = await signInAndApprove(
    server,
    authorizeUrl(server, clientId, challenge, { scope }),
    'dr-who',
    'provider-password',
    { patient: 'p2' },
  );
  t.equal(chosen.consent.status, 303);
  const code = new URL(chosen.consent.headers.get('location')!).searchParams.get('code')!;
  const token = await exchange(server, clientId, code, verifier);
  t.equal(token.status, 200, token.text);
  t.equal(token.json.patient, 'p2');
  t.match(JSON.parse(Buffer.from(token.json.access_token.split('.')[1], 'base64url').toString()), {
    role: 'PROVIDER',
    fhirUser: `${server.base}/Practitioner/d1`,
    patient: 'p2',
  });
  t.equal(await apiStatus(server, token.json.access_token, 'Patient/p2'), 200);
});

t.test('a provider may not pick a patient their policy hides', async (t) => {
  const { server, users, clientId } = await launchSetup(t); // PROVIDER_ACCESS=assigned
  await users.add({
    username: 'dr-no',
    password: 'provider-password',
    fhirUser: 'Practitioner/d2',
    role: 'PROVIDER',
  });
  const { challenge } = pkce();
  const url = authorizeUrl(server, clientId, challenge, { scope: 'launch/patient patient/*.rs' });
  const picked = await signInAndApprove(server, url, 'dr-no', 'provider-password', {
    patient: 'p1',
  });
  t.notMatch(picked.loginHtml, /name="patient" value="p1"/, 'not offered');
  t.equal(picked.consent.status, 400, 'and refused when sent anyway');
  t.notOk(picked.consent.headers.get('location'));
});

t.test('a client without the refresh_token grant gets no refresh token', async (t) => {
  const { server } = await launchSetup(t);
  const client = await registerClient(server, {
    client_name: 'no refresh',
    token_endpoint_auth_method: 'none',
    redirect_uris: [REDIRECT],
    grant_types: ['authorization_code'],
  });
  const { code, verifier } = await codeFor(server, client.client_id);
  const token = await exchange(server, client.client_id, code, verifier);
  t.equal(token.status, 200);
  t.match(token.json.scope, /offline_access/);
  t.notOk(token.json.refresh_token);
});

t.test('a code raced against itself: the winner is revoked with the grant', async (t) => {
  const { server, clientId } = await launchSetup(t);
  for (let round = 0; round < 3; round++) {
    const { code, verifier } = await codeFor(server, clientId);
    const answers = await Promise.all([
      exchange(server, clientId, code, verifier),
      exchange(server, clientId, code, verifier),
    ]);
    t.ok(
      answers.some((a) => a.json.error === 'invalid_grant'),
      'the second use is refused',
    );
    for (const answer of answers.filter((a) => a.status === 200)) {
      t.equal(await apiStatus(server, answer.json.access_token), 401, `round ${round}: revoked`);
    }
  }
});

t.test('a refresh token raced against itself: the winner is revoked too', async (t) => {
  const { server, clientId } = await launchSetup(t);
  for (let round = 0; round < 5; round++) {
    const { code, verifier } = await codeFor(server, clientId);
    const first = await exchange(server, clientId, code, verifier);
    const form = { refresh_token: first.json.refresh_token, client_id: clientId };
    const answers = await Promise.all([refresh(server, form), refresh(server, form)]);
    t.ok(answers.some((a) => a.json.error === 'invalid_grant'));
    for (const answer of answers.filter((a) => a.status === 200)) {
      t.equal(await apiStatus(server, answer.json.access_token), 401, `round ${round}: revoked`);
    }
  }
});

t.test('a token recorded after its grant was revoked is refused and revoked', async (t) => {
  const { server, users, clientId } = await launchSetup(t);
  const db = server.app.oauthServer!.db;
  const grants = new Grants(db);
  const make = () =>
    grants.approve({
      clientId,
      username: 'amy',
      scope: 'patient/*.rs',
      redirectUri: REDIRECT,
      codeChallenge: pkce().challenge,
      lifetimeSeconds: 3600,
    });
  const exp = Math.floor(Date.now() / 1000) + 600;
  const revokedIn = async (jti: string) =>
    (await db.query('SELECT 1 FROM oauth_revoked_token WHERE jti = $1', [jti])).length;

  const code = await make();
  const redeemed = await grants.redeem(code);
  if (redeemed.outcome !== 'ok') throw new Error('redeem');
  t.equal(await grants.recordToken(redeemed.grant.id, 'live-jti', exp), true);
  t.equal(await grants.redeem(code).then((r) => r.outcome), 'replayed', 'the grant is revoked');
  t.equal(await revokedIn('live-jti'), 1);
  t.equal(await grants.recordToken(redeemed.grant.id, 'late-jti', exp), false, 'too late');
  t.equal(await revokedIn('late-jti'), 1, 'and on the revocation list');

  const other = await grants.redeem(await make());
  if (other.outcome !== 'ok') throw new Error('redeem');
  await users.disable('amy');
  t.equal(await grants.recordToken(other.grant.id, 'disabled-jti', exp), false, 'user disabled');
  t.equal(await revokedIn('disabled-jti'), 1);
});

t.test('a client revokes its refresh token: the grant and its access tokens end', async (t) => {
  const { server, clientId } = await launchSetup(t);
  const revoke = (form: Record<string, string>, headers = {}) =>
    postForm(`${server.auth}/revoke`, form, headers);
  const launch = async () => {
    const { code, verifier } = await codeFor(server, clientId);
    const first = await exchange(server, clientId, code, verifier);
    if (first.status !== 200) throw new Error(first.text);
    return first.json as { access_token: string; refresh_token: string };
  };

  // A public client, identified by client_id, with and without the hint.
  for (const hint of [{}, { token_type_hint: 'refresh_token' }] as Record<string, string>[]) {
    const tokens = await launch();
    const revoked = await revoke({ token: tokens.refresh_token, client_id: clientId, ...hint });
    t.equal(revoked.status, 200, revoked.text);
    t.equal(revoked.headers.get('cache-control'), 'no-store');
    const after = await refresh(server, {
      refresh_token: tokens.refresh_token,
      client_id: clientId,
    });
    t.equal(after.json.error, 'invalid_grant', 'the refresh token no longer works');
    t.equal(await apiStatus(server, tokens.access_token), 401, "and the grant's access token");
  }

  // Another client's refresh token, or an unknown one: 200, and nothing happens.
  const other = await registerClient(server, {
    client_name: 'other',
    token_endpoint_auth_method: 'none',
    redirect_uris: [REDIRECT],
    grant_types: ['authorization_code', 'refresh_token'],
  });
  const kept = await launch();
  const foreign = await revoke({ token: kept.refresh_token, client_id: other.client_id });
  t.equal(foreign.status, 200, 'no telling whose it is');
  for (const junk of ['junk', 'x'.repeat(500)]) {
    t.equal((await revoke({ token: junk, client_id: clientId })).status, 200);
  }
  t.equal(await apiStatus(server, kept.access_token), 200, 'untouched');
  const still = await refresh(server, { refresh_token: kept.refresh_token, client_id: clientId });
  t.equal(still.status, 200, 'its refresh token still works');

  // A public client revokes its own access token too; an unknown client_id is no client.
  t.equal((await revoke({ token: still.json.access_token, client_id: clientId })).status, 200);
  t.equal(await apiStatus(server, still.json.access_token), 401);
  const nobody = await revoke({ token: still.json.refresh_token, client_id: 'nobody' });
  t.equal(nobody.status, 401);
  t.equal(nobody.json.error, 'invalid_client');

  // A confidential client authenticates, and its refresh token is revoked for good.
  const portal = await registerClient(server, {
    client_name: 'portal',
    token_endpoint_auth_method: 'client_secret_basic',
    redirect_uris: [REDIRECT],
    grant_types: ['authorization_code', 'refresh_token'],
  });
  const basic = {
    authorization: `Basic ${Buffer.from(`${portal.client_id}:${portal.client_secret}`).toString('base64')}`,
  };
  const { code, verifier } = await codeFor(server, portal.client_id);
  const mine = await postForm(
    `${server.auth}/token`,
    { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier },
    basic,
  );
  t.equal(mine.status, 200, mine.text);
  const byPortal = await revoke({ token: mine.json.refresh_token }, basic);
  t.equal(byPortal.status, 200);
  const dead = await refresh(server, { refresh_token: mine.json.refresh_token }, basic);
  t.equal(dead.json.error, 'invalid_grant');
  t.equal(await apiStatus(server, mine.json.access_token), 401);
});
