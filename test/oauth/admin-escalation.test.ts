/**
 * Who administers the authorization server. An app's token from a user's sign-in never does
 * (unless an ADMIN explicitly granted telefhir/oauth.admin), and a backend service registers
 * clients with no more than its own system/ scopes.
 */
import t from 'tap';
import {
  authorizeUrl,
  exchange,
  launchSetup,
  pkce,
  postPage,
  hiddenValue,
  REDIRECT,
  signInAndApprove,
  startAuthorization,
} from './launch-helpers.js';
import { devToken, postForm, postJson, registerClient, type BuiltIn } from './helpers.js';

const ADMIN_PASSWORD = 'root-secret-password';
const basic = (id: string, secret: string) => ({
  authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`,
});
const wide = {
  client_name: 'escalated',
  token_endpoint_auth_method: 'client_secret_basic',
  scope: 'system/*.cruds',
};

async function appToken(server: BuiltIn, clientId: string, scope: string, username = 'root') {
  const { verifier, challenge } = pkce();
  const password = username === 'root' ? ADMIN_PASSWORD : 'amy-secret-password';
  const { consent, loginHtml } = await signInAndApprove(
    server,
    authorizeUrl(server, clientId, challenge, { scope }),
    username,
    password,
  );
  const code = new URL(consent.headers.get('location')!).searchParams.get('code');
  if (!code) throw new Error(`no code: ${consent.headers.get('location')}`);
  const token = await exchange(server, clientId, code, verifier);
  return { ...(token.json as { access_token: string; scope: string }), loginHtml };
}

async function setup(t: Parameters<typeof launchSetup>[0]) {
  const setup = await launchSetup(t);
  await setup.users.add({
    username: 'root',
    password: ADMIN_PASSWORD,
    fhirUser: 'Practitioner/root',
    role: 'ADMIN',
  });
  const app = await registerClient(setup.server, {
    client_name: 'third-party app',
    token_endpoint_auth_method: 'none',
    redirect_uris: [REDIRECT],
    launch_uri: 'http://127.0.0.1:9/app/launch',
    grant_types: ['authorization_code', 'refresh_token'],
  });
  return { ...setup, appId: app.client_id };
}

t.test("an ADMIN's sign-in to an app gives the app no administration", async (t) => {
  const { server, appId } = await setup(t);
  const { access_token: token, scope } = await appToken(server, appId, 'openid fhirUser');
  t.equal(scope, 'openid fhirUser');
  const register = await postJson(`${server.auth}/register`, wide, token);
  t.equal(register.status, 403, 'may not register a client');
  t.equal(register.json.error, 'insufficient_scope');

  const victim = await registerClient(server, wide);
  const victimToken = (
    await postForm(
      `${server.auth}/token`,
      { grant_type: 'client_credentials' },
      basic(victim.client_id, victim.client_secret!),
    )
  ).json.access_token as string;
  const bearer = { authorization: `Bearer ${token}` };
  const introspect = await postForm(`${server.auth}/introspect`, { token: victimToken }, bearer);
  t.equal(introspect.status, 403, 'may not introspect others’ tokens');
  const revoke = await postForm(`${server.auth}/revoke`, { token: victimToken }, bearer);
  t.equal(revoke.status, 403, 'may not revoke others’ tokens');

  const other = await registerClient(server, {
    client_name: 'another app',
    token_endpoint_auth_method: 'none',
    redirect_uris: [REDIRECT],
    launch_uri: 'http://127.0.0.1:9/other/launch',
  });
  const launch = await postJson(
    `${server.auth}/launch`,
    { client_id: other.client_id, patient: 'p1' },
    token,
  );
  t.equal(launch.status, 403, 'may not mint a launch for another client');
  const own = await postJson(`${server.auth}/launch`, { client_id: appId, patient: 'p1' }, token);
  t.not(own.status, 403, 'may ask for a launch for itself (its scopes decide the rest)');
  const cliAdmin = devToken(server.config, { role: 'ADMIN', scope: 'user/*.*' });
  const cli = await postJson(
    `${server.auth}/launch`,
    { client_id: other.client_id, patient: 'p1' },
    cliAdmin,
  );
  t.not(cli.status, 403, 'a CLI token is not held to one client');
});

t.test('telefhir/oauth.admin: only an ADMIN, only when asked, makes an app an admin', async (t) => {
  const { server, appId } = await setup(t);
  const asked = 'openid telefhir/oauth.admin';
  const amy = await appToken(server, appId, asked, 'amy');
  t.notMatch(amy.loginHtml, /oauth\.admin/, 'a non-ADMIN is not offered it');
  t.equal(amy.scope, 'openid');
  const root = await appToken(server, appId, asked);
  t.match(root.loginHtml, /telefhir\/oauth\.admin|telefhir&#47;oauth\.admin/);
  t.equal(root.scope, asked);
  const register = await postJson(`${server.auth}/register`, wide, root.access_token);
  t.equal(register.status, 201, 'an explicitly granted administrative scope registers');
  const plain = await appToken(server, appId, 'openid');
  t.notMatch(plain.loginHtml, /oauth\.admin/, 'not offered when the app did not ask');
});

t.test(
  'a backend service registers clients with no more than its own system/ scopes',
  async (t) => {
    const { server } = await setup(t);
    const narrow = await registerClient(server, {
      client_name: 'narrow',
      token_endpoint_auth_method: 'client_secret_basic',
      scope: 'system/Patient.rs',
    });
    const token = (
      await postForm(
        `${server.auth}/token`,
        { grant_type: 'client_credentials' },
        basic(narrow.client_id, narrow.client_secret!),
      )
    ).json.access_token as string;
    const escalated = await postJson(`${server.auth}/register`, wide, token);
    t.equal(escalated.status, 400, 'system/*.cruds is more than system/Patient.rs');
    t.equal(escalated.json.error, 'invalid_client_metadata');
    for (const scope of ['system/Patient.rs', 'system/Patient.r', 'system/Patient.read']) {
      const ok = await postJson(`${server.auth}/register`, { ...wide, scope }, token);
      t.equal(ok.status, 201, `${scope} is within system/Patient.rs`);
    }
    for (const scope of ['system/Observation.rs', 'system/Patient.rsu', 'system/*.rs']) {
      const no = await postJson(`${server.auth}/register`, { ...wide, scope }, token);
      t.equal(no.status, 400, `${scope} is not within system/Patient.rs`);
    }
  },
);

t.test('the consent form cannot add telefhir/oauth.admin for a non-ADMIN', async (t) => {
  const { server, appId } = await setup(t);
  const { verifier, challenge } = pkce();
  const start = await startAuthorization(
    authorizeUrl(server, appId, challenge, { scope: 'openid telefhir/oauth.admin' }),
  );
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
  const consent = await postPage(
    `${server.auth}/consent`,
    {
      request: hiddenValue(login.html, 'request'),
      csrf: hiddenValue(login.html, 'csrf'),
      decision: 'approve',
      'scope.0': 'openid',
      'scope.1': 'telefhir/oauth.admin',
    },
    start.cookie,
  );
  t.equal(consent.status, 303);
  const code = new URL(consent.headers.get('location')!).searchParams.get('code');
  const token = await exchange(server, appId, code!, verifier);
  t.equal(token.json.scope, 'openid', 'a forged form field grants nothing more');
});
