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
