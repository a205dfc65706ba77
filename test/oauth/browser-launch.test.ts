/**
 * The standalone patient launch and the EHR launch as a real SMART app does them: the SMART
 * `fhirclient` library in headless Chromium (Debian's `chromium`, driven by playwright-core),
 * against the real server. A tiny app on another loopback port calls FHIR.oauth2.authorize(),
 * the user signs in and approves on the server's pages, and FHIR.oauth2.ready() reads the
 * Patient.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import t from 'tap';
import { devToken, postJson, registerClient } from './helpers.js';
import { APP_SCOPE, launchSetup, PASSWORD } from './launch-helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const require = createRequire(import.meta.url);

/** The test app: fhirclient's browser build, a launch page and a redirect page. No server-side state. */
function startApp(t: Parameters<typeof launchSetup>[0], settings: () => Record<string, string>) {
  const library = readFileSync(require.resolve('fhirclient/build/fhir-client.js'));
  const page = (script: string) =>
    `<!doctype html><html><head><meta charset="utf-8"><title>app</title></head>
<body><pre id="out">waiting</pre><script src="/fhir-client.js"></script><script src="/${script}"></script></body></html>`;
  const scripts: Record<string, () => string> = {
    'launch.js': () =>
      `FHIR.oauth2.authorize(${JSON.stringify({ ...settings(), pkceMode: 'required' })})
        .catch(function (e) { document.getElementById('out').textContent = 'error: ' + e.message; });`,
    'ready.js': () =>
      `FHIR.oauth2.ready().then(function (client) {
         return client.patient.read().then(function (patient) {
           document.getElementById('out').textContent = JSON.stringify({
             context: client.patient.id, read: patient.id, family: patient.name[0].family,
             user: client.getFhirUser(), scope: client.state.tokenResponse.scope,
             encounter: client.encounter.id
           });
         });
       }).catch(function (e) { document.getElementById('out').textContent = 'error: ' + e.message; });`,
  };
  const server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://x').pathname.slice(1);
    if (path === 'fhir-client.js') {
      response.writeHead(200, { 'content-type': 'text/javascript' }).end(library);
    } else if (scripts[path]) {
      response.writeHead(200, { 'content-type': 'text/javascript' }).end(scripts[path]!());
    } else if (path === 'launch.html' || path === 'index.html') {
      const html = page(path === 'launch.html' ? 'launch.js' : 'ready.js');
      response.writeHead(200, { 'content-type': 'text/html' }).end(html);
    } else response.writeHead(404).end();
  });
  return new Promise<string>((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      t.teardown(() => new Promise<void>((done) => server.close(() => done())));
      resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    });
  });
}

async function openBrowser(t: Parameters<typeof launchSetup>[0]) {
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
    ],
  });
  t.teardown(() => browser.close());
  return browser;
}

// Never a silent pass: without a browser the test is reported as skipped, with the reason.
const skip = existsSync(CHROMIUM)
  ? false
  : `${CHROMIUM} is not installed (apt-get install -y chromium): cannot run a real browser`;

t.test('fhirclient in headless Chromium: standalone patient launch', { skip }, async (t) => {
  const { server } = await launchSetup(t);
  let clientId = '';
  const app = await startApp(t, () => ({
    clientId,
    scope: APP_SCOPE,
    redirectUri: `${app}/index.html`,
    iss: server.base,
  }));
  clientId = (
    await registerClient(server, {
      client_name: 'browser app',
      token_endpoint_auth_method: 'none',
      redirect_uris: [`${app}/index.html`],
      grant_types: ['authorization_code', 'refresh_token'],
      scope: APP_SCOPE,
    })
  ).client_id;

  const browser = await openBrowser(t);
  const page = await browser.newPage();
  const violations: string[] = [];
  page.on('console', (message) => {
    if (/Content Security Policy|Refused/i.test(message.text())) violations.push(message.text());
  });

  await page.goto(`${app}/launch.html`);
  await page.waitForURL(/\/auth\/authorize\?/, { timeout: 20_000 });
  t.match(page.url(), /code_challenge_method=S256/, 'fhirclient used PKCE S256');
  await page.fill('input[name="username"]', 'amy');
  await page.fill('input[name="password"]', PASSWORD);
  await page.click('button[type="submit"]');
  await page.waitForSelector('button[value="approve"]', { timeout: 20_000 });
  await page.click('button[value="approve"]');
  await page.waitForURL(new RegExp(`^${app}/index.html`), { timeout: 20_000 });
  await page.waitForFunction(
    () => document.getElementById('out')?.textContent !== 'waiting',
    null,
    {
      timeout: 20_000,
    },
  );
  const out = (await page.textContent('#out')) ?? '';
  t.notMatch(out, /^error/, out);
  const result = JSON.parse(out.startsWith('{') ? out : '{}');
  t.match(result, {
    context: 'p1',
    read: 'p1',
    family: 'Amy',
    user: 'Patient/p1',
    scope: APP_SCOPE,
  });
  t.same(violations, [], 'no CSP violations on the way');
});

t.test(
  'fhirclient in headless Chromium: EHR launch with patient and encounter',
  { skip },
  async (t) => {
    const { server, users, admin } = await launchSetup(t, { providerAccess: 'all' });
    await users.add({
      username: 'dr-who',
      password: 'provider-password',
      fhirUser: 'Practitioner/d1',
      role: 'PROVIDER',
    });
    const encounter = await fetch(`${server.base}/Encounter/e1`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/fhir+json' },
      body: JSON.stringify({
        resourceType: 'Encounter',
        id: 'e1',
        status: 'in-progress',
        class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'VR' },
        subject: { reference: 'Patient/p1' },
      }),
    });
    t.ok(encounter.status < 300, 'an encounter');
    const scope = 'launch openid fhirUser patient/*.rs';
    let clientId = '';
    // No iss here: fhirclient takes iss and launch from the launch URL.
    const app = await startApp(t, () => ({ clientId, scope, redirectUri: `${app}/index.html` }));
    clientId = (
      await server.app.oauthServer!.clients.add({
        name: 'ehr browser app',
        redirectUris: [`${app}/index.html`],
        launchUri: `${app}/launch.html`,
        authMethod: 'none',
        scope: '',
        grantTypes: ['authorization_code'],
      })
    ).client.clientId;
    const provider = devToken(server.config, {
      sub: 'dr-who',
      role: 'PROVIDER',
      fhirUser: 'Practitioner/d1',
      scope: 'user/*.rs',
    });
    const minted = await postJson(
      `${server.auth}/launch`,
      { client_id: clientId, patient: 'p1', encounter: 'e1' },
      provider,
    );
    t.equal(minted.status, 201);

    const browser = await openBrowser(t);
    const page = await browser.newPage();
    await page.goto(minted.json.launch_url);
    await page.waitForURL(/\/auth\/authorize\?/, { timeout: 20_000 });
    t.match(page.url(), /[?&]launch=/, 'fhirclient passed the launch on');
    await page.fill('input[name="username"]', 'dr-who');
    await page.fill('input[name="password"]', 'provider-password');
    await page.click('button[type="submit"]');
    await page.waitForSelector('button[value="approve"]', { timeout: 20_000 });
    t.equal(await page.locator('input[name="patient"]').count(), 0, 'no patient picker');
    await page.click('button[value="approve"]');
    await page.waitForURL(new RegExp(`^${app}/index.html`), { timeout: 20_000 });
    await page.waitForFunction(
      () => document.getElementById('out')?.textContent !== 'waiting',
      null,
      {
        timeout: 20_000,
      },
    );
    const out = (await page.textContent('#out')) ?? '';
    t.notMatch(out, /^error/, out);
    t.match(JSON.parse(out.startsWith('{') ? out : '{}'), {
      context: 'p1',
      read: 'p1',
      encounter: 'e1',
      user: 'Practitioner/d1',
      scope,
    });
  },
);
