/**
 * EHR launch: an ADMIN or PROVIDER mints a launch context (patient, encounter) for a client
 * with a launch URI; the app's authorization request names it with `launch=` and scope
 * `launch`, and the token carries that patient and encounter. A launch is single-use, bound to
 * its client, and only for patients the minter — and then the signed-in user — may see.
 */
import t from 'tap';
import { offerableScopes } from '../../src/oauth/pending.js';
import { fhir } from '../helpers.js';
import { devToken, postJson, type BuiltIn } from './helpers.js';
import {
  apiStatus,
  authorizeUrl,
  exchange,
  launchSetup,
  PASSWORD,
  pkce,
  REDIRECT,
  signInAndApprove,
  startAuthorization,
} from './launch-helpers.js';

const LAUNCH_URI = 'http://127.0.0.1:9/app/launch';
const EHR_SCOPE = 'launch openid fhirUser patient/*.rs';

async function ehrSetup(t: Parameters<typeof launchSetup>[0]) {
  const setup = await launchSetup(t, { providerAccess: 'all' });
  const { server, users, admin } = setup;
  await users.add({
    username: 'dr-who',
    password: 'provider-password',
    fhirUser: 'Practitioner/d1',
    role: 'PROVIDER',
  });
  for (const [id, patient] of [
    ['e1', 'p1'],
    ['e2', 'p2'],
  ]) {
    const put = await fhir(
      server.base,
      'PUT',
      `Encounter/${id}`,
      {
        resourceType: 'Encounter',
        id,
        status: 'in-progress',
        class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'VR' },
        subject: { reference: `Patient/${patient}` },
      },
      { authorization: `Bearer ${admin}` },
    );
    if (put.status >= 300) throw new Error(`Encounter/${id}: ${put.status}`);
  }
  const clients = server.app.oauthServer!.clients;
  const spec = {
    redirectUris: [REDIRECT],
    authMethod: 'none' as const,
    scope: '',
    grantTypes: ['authorization_code', 'refresh_token'],
  };
  const ehrApp = (await clients.add({ ...spec, name: 'ehr app', launchUri: LAUNCH_URI })).client;
  const plainApp = (await clients.add({ ...spec, name: 'no launch uri' })).client;
  const provider = devToken(server.config, {
    sub: 'dr-who',
    role: 'PROVIDER',
    fhirUser: 'Practitioner/d1',
    scope: 'user/*.rs',
  });
  return { ...setup, ehrApp, plainApp, provider };
}

const mint = (server: BuiltIn, body: unknown, token?: string) =>
  postJson(`${server.auth}/launch`, body, token);

t.test('EHR launch, end to end', async (t) => {
  const { server, ehrApp, provider } = await ehrSetup(t);
  const minted = await mint(
    server,
    { client_id: ehrApp.clientId, patient: 'Patient/p1', encounter: 'e1' },
    provider,
  );
  t.equal(minted.status, 201, JSON.stringify(minted.json));
  t.equal(minted.headers.get('cache-control'), 'no-store');
  const url = new URL(minted.json.launch_url);
  t.equal(`${url.origin}${url.pathname}`, LAUNCH_URI);
  t.equal(url.searchParams.get('iss'), server.base);
  t.equal(url.searchParams.get('launch'), minted.json.launch);

  const { challenge, verifier } = pkce();
  const authorize = authorizeUrl(server, ehrApp.clientId, challenge, {
    scope: EHR_SCOPE,
    launch: minted.json.launch,
  });
  const flow = await signInAndApprove(server, authorize, 'dr-who', 'provider-password');
  t.notMatch(flow.loginHtml, /name="patient"/, 'no patient to pick: the EHR chose');
  t.equal(flow.consent.status, 303);
  const code = new URL(flow.consent.headers.get('location')!).searchParams.get('code')!;
  const token = await exchange(server, ehrApp.clientId, code, verifier);
  t.equal(token.status, 200, token.text);
  t.match(token.json, {
    scope: EHR_SCOPE,
    patient: 'p1',
    encounter: 'e1',
    fhirContext: [{ reference: 'Patient/p1' }, { reference: 'Encounter/e1' }],
    id_token: String,
  });
  t.equal(await apiStatus(server, token.json.access_token, 'Patient/p1'), 200);
  t.equal(await apiStatus(server, token.json.access_token, 'Encounter/e1'), 200);

  const again = await startAuthorization(authorize);
  t.equal(again.response.status, 303, 'a launch is spent by its first use');
  t.equal(
    new URL(again.response.headers.get('location')!).searchParams.get('error'),
    'invalid_request',
  );
});

t.test('who may mint a launch, and for what', async (t) => {
  const { server, ehrApp, plainApp, provider } = await ehrSetup(t);
  const body = { client_id: ehrApp.clientId, patient: 'p1' };
  const none = await mint(server, body);
  t.equal(none.status, 401);
  t.equal(none.json.error, 'invalid_token');
  const patient = devToken(server.config, {
    sub: 'amy',
    role: 'PATIENT',
    patient: 'p1',
    scope: 'patient/*.rs',
  });
  const asPatient = await mint(server, body, patient);
  t.equal(asPatient.status, 403);
  t.equal(asPatient.json.error, 'insufficient_scope');
  for (const [why, bad] of [
    ['unknown patient', { client_id: ehrApp.clientId, patient: 'p404' }],
    ["another patient's encounter", { client_id: ehrApp.clientId, patient: 'p1', encounter: 'e2' }],
    ['a client without a launch URI', { client_id: plainApp.clientId, patient: 'p1' }],
    ['unknown client', { client_id: 'nope', patient: 'p1' }],
    ['no patient', { client_id: ehrApp.clientId }],
    ['not an object', ['p1']],
  ] as const) {
    const refused = await mint(server, bad, provider);
    t.equal(refused.status, 400, why);
    t.equal(refused.json.error, 'invalid_request', why);
  }
  const admin = devToken(server.config, { sub: 'root', role: 'ADMIN', scope: 'user/*.*' });
  t.equal((await mint(server, body, admin)).status, 201, 'an ADMIN may');
});

t.test(
  'a launch is bound to its client, needs the launch scope, and a user who may see it',
  async (t) => {
    const { server, ehrApp, plainApp, provider } = await ehrSetup(t);
    const fresh = async (patient = 'p1') =>
      (await mint(server, { client_id: ehrApp.clientId, patient }, provider)).json.launch as string;
    const { challenge } = pkce();
    const errorOf = async (clientId: string, overrides: Record<string, string>) => {
      const { response } = await startAuthorization(
        authorizeUrl(server, clientId, challenge, overrides),
      );
      t.equal(response.status, 303);
      return new URL(response.headers.get('location')!).searchParams.get('error');
    };
    t.equal(
      await errorOf(plainApp.clientId, { scope: EHR_SCOPE, launch: await fresh() }),
      'invalid_request',
      "another client's launch",
    );
    t.equal(
      await errorOf(ehrApp.clientId, { scope: 'openid patient/*.rs', launch: await fresh() }),
      'invalid_scope',
      'no launch scope',
    );
    t.equal(
      await errorOf(ehrApp.clientId, { scope: EHR_SCOPE, launch: 'made-up' }),
      'invalid_request',
    );
    t.same(offerableScopes('launch launch/encounter openid', ''), ['openid'], 'launch: EHR only');
    t.same(offerableScopes('launch openid', '', true), ['launch', 'openid']);

    // Amy (PATIENT, Patient/p1) signs in to a launch for p2: refused.
    const flow = await signInAndApprove(
      server,
      authorizeUrl(server, ehrApp.clientId, challenge, {
        scope: EHR_SCOPE,
        launch: await fresh('p2'),
      }),
      'amy',
      PASSWORD,
    );
    t.equal(flow.consent.status, 303);
    const location = new URL(flow.consent.headers.get('location')!);
    t.equal(location.searchParams.get('error'), 'access_denied');
    t.notOk(location.searchParams.get('code'));
  },
);

t.test(
  'dynamic registration takes launch_uri, and redirect URIs default to the code flow',
  async (t) => {
    const { server, provider } = await ehrSetup(t);
    const admin = devToken(server.config, { role: 'ADMIN', scope: 'user/*.*' });
    const registered = await postJson(
      `${server.auth}/register`,
      {
        client_name: 'registered ehr app',
        token_endpoint_auth_method: 'none',
        redirect_uris: [REDIRECT],
        launch_uri: LAUNCH_URI,
      },
      admin,
    );
    t.equal(registered.status, 201, JSON.stringify(registered.json));
    t.same(registered.json.grant_types, ['authorization_code', 'refresh_token']);
    t.equal(registered.json.launch_uri, LAUNCH_URI);
    const minted = await mint(
      server,
      { client_id: registered.json.client_id, patient: 'p1' },
      provider,
    );
    t.equal(minted.status, 201);
    const bad = await postJson(
      `${server.auth}/register`,
      {
        client_name: 'x',
        token_endpoint_auth_method: 'none',
        redirect_uris: [REDIRECT],
        launch_uri: 'http://evil.example/launch',
      },
      admin,
    );
    t.equal(bad.status, 400, 'a launch URI is https or loopback http');
  },
);

t.test('$start-visit opens an app in an EHR launch with the visit as its context', async (t) => {
  const { server, ehrApp, plainApp, admin } = await ehrSetup(t);
  const asAdmin = { authorization: `Bearer ${admin}` };
  await fhir(
    server.base,
    'PUT',
    'Practitioner/d1',
    {
      resourceType: 'Practitioner',
      id: 'd1',
      name: [{ family: 'Who' }],
    },
    asAdmin,
  );
  const start = new Date(Date.now() + 5 * 60_000).toISOString();
  const end = new Date(Date.now() + 35 * 60_000).toISOString();
  const appointment = await fhir(
    server.base,
    'POST',
    'Appointment',
    {
      resourceType: 'Appointment',
      status: 'booked',
      start,
      end,
      participant: [
        { actor: { reference: 'Patient/p1' }, status: 'accepted' },
        { actor: { reference: 'Practitioner/d1' }, status: 'accepted' },
      ],
    },
    asAdmin,
  );
  t.equal(appointment.status, 201, appointment.text);
  const visit = (clientId: string, token: string) =>
    fhir(
      server.base,
      'POST',
      `Appointment/${appointment.body.id}/$start-visit`,
      { resourceType: 'Parameters', parameter: [{ name: 'launchClient', valueString: clientId }] },
      { authorization: `Bearer ${token}` },
    );
  const patient = devToken(server.config, {
    sub: 'amy',
    role: 'PATIENT',
    fhirUser: 'Patient/p1',
    scope: 'user/*.rs',
  });
  const asPatient = await visit(ehrApp.clientId, patient);
  t.equal(asPatient.status, 403, 'a patient gets no EHR launch');
  const doctor = devToken(server.config, {
    sub: 'dr-who',
    role: 'PROVIDER',
    fhirUser: 'Practitioner/d1',
    scope: 'user/*.*',
  });
  const noLaunchUri = await visit(plainApp.clientId, doctor);
  t.equal(noLaunchUri.status, 422, 'a client without a launch URI');
  t.equal(noLaunchUri.body.resourceType, 'OperationOutcome');
  const started = await visit(ehrApp.clientId, doctor);
  t.equal(started.status, 200, started.text);
  const params = started.body.parameter as {
    name: string;
    valueUri?: string;
    valueReference?: { reference: string };
  }[];
  const encounter = params.find((p) => p.name === 'encounter')!.valueReference!.reference;
  const launchUrl = new URL(params.find((p) => p.name === 'launchUrl')!.valueUri!);
  t.equal(`${launchUrl.origin}${launchUrl.pathname}`, LAUNCH_URI);
  t.equal(launchUrl.searchParams.get('iss'), server.base);

  // The app launches with it; the token carries the visit's patient and Encounter.
  const { challenge, verifier } = pkce();
  const authorize = authorizeUrl(server, ehrApp.clientId, challenge, {
    scope: EHR_SCOPE,
    launch: launchUrl.searchParams.get('launch')!,
  });
  const flow = await signInAndApprove(server, authorize, 'dr-who', 'provider-password');
  const code = new URL(flow.consent.headers.get('location')!).searchParams.get('code')!;
  const token = await exchange(server, ehrApp.clientId, code, verifier);
  t.equal(token.status, 200, token.text);
  t.match(token.json, { patient: 'p1', encounter: encounter.replace('Encounter/', '') });
});
