/**
 * The HealthLake proxy itself, against the emulator: signatures checked for real, HealthLake's
 * links never reaching a client, sealed page tokens, how searches are sent, and compartments
 * enforced in the query HealthLake receives.
 */
import { request } from 'node:http';
import t, { type Test } from 'tap';
import { FhirError } from '../../src/fhir/errors.js';
import { HealthLakeClient } from '../../src/store/healthlake/client.js';
import { healthLakeSigner } from '../../src/store/healthlake/signer.js';
import { fhir, startServer, testConfig, testToken } from '../helpers.js';
import { backWithHealthLake, TEST_AWS } from './harness.js';

async function start(t: Test, env: Record<string, string> = {}) {
  const config = await testConfig(t);
  const { emulator } = await backWithHealthLake(t, config, env);
  const server = await startServer(t, config);
  return { ...server, emulator };
}

const bearer = (claims: Record<string, unknown>) => ({
  authorization: `Bearer ${testToken(claims)}`,
});

t.test(
  'a request signed with the wrong secret is refused upstream and named clearly',
  async (t) => {
    const { emulator } = await start(t);
    const client = new HealthLakeClient(
      { endpoint: emulator.endpoint, timeoutMs: 5000, maxAttempts: 1 },
      healthLakeSigner(TEST_AWS.region, {
        accessKeyId: TEST_AWS.credentials.accessKeyId,
        secretAccessKey: 'not-the-secret',
      }),
    );
    t.teardown(() => client.close());
    const error = await client
      .send({ method: 'GET', path: 'Patient', idempotent: true })
      .catch((e: unknown) => e);
    t.ok(error instanceof FhirError);
    t.equal((error as FhirError).statusCode, 502, 'our misconfiguration, not the caller’s: 502');
    t.match((error as FhirError).diagnostics, /InvalidSignatureException/);
    t.match(emulator.rejections.at(-1), /signature/i, 'the emulator recomputed and rejected it');
    // The right secret is accepted by the same emulator.
    const ok = new HealthLakeClient(
      { endpoint: emulator.endpoint, timeoutMs: 5000, maxAttempts: 1 },
      healthLakeSigner(TEST_AWS.region, TEST_AWS.credentials),
    );
    t.teardown(() => ok.close());
    t.equal((await ok.send({ method: 'GET', path: 'Patient', idempotent: true })).status, 200);
  },
);

t.test('links are ours, page tokens are sealed, a tampered one is 400', async (t) => {
  const { base, emulator } = await start(t);
  for (let i = 0; i < 5; i++) {
    t.equal(
      (await fhir(base, 'POST', 'Patient', { resourceType: 'Patient', gender: 'other' })).status,
      201,
    );
  }
  const seen: string[] = [];
  let page = await fhir(base, 'GET', 'Patient?gender=other&_count=2&_total=accurate');
  t.equal(page.status, 200);
  t.equal(page.body.total, 5);
  for (;;) {
    const text = JSON.stringify(page.body);
    t.notMatch(text, emulator.origin, 'nothing of HealthLake’s host reaches the client');
    t.notMatch(text, /[?&]page=/, 'no raw upstream token');
    for (const entry of page.body.entry ?? []) {
      t.ok(entry.fullUrl.startsWith(`${base}/Patient/`));
      seen.push(entry.resource.id);
    }
    const next = page.body.link.find((l: { relation: string }) => l.relation === 'next')?.url;
    if (!next) break;
    t.ok(next.startsWith(`${base}/Patient?`), 'next is on FHIR_BASE_URL');
    page = await fhir(next, 'GET', '');
    t.equal(page.status, 200);
  }
  t.equal(new Set(seen).size, 5, 'every match once across the pages');
  t.ok(
    emulator.requests.some((r) => /(^|&)page=/.test(r.query)),
    'the pages came from HealthLake’s own page tokens',
  );

  const first = await fhir(base, 'GET', 'Patient?gender=other&_count=2&_total=accurate');
  const next = new URL(
    first.body.link.find((l: { relation: string }) => l.relation === 'next').url,
  );
  const cursor = next.searchParams.get('_cursor')!;
  const flipped = `${cursor.slice(0, 20)}${cursor[20] === 'A' ? 'B' : 'A'}${cursor.slice(21)}`;
  next.searchParams.set('_cursor', flipped);
  const tampered = await fhir(next.toString(), 'GET', '');
  t.equal(tampered.status, 400);
  t.equal(tampered.body.resourceType, 'OperationOutcome');
});

t.test('Location and Content-Location are on FHIR_BASE_URL', async (t) => {
  const { base, emulator } = await start(t);
  const created = await fhir(base, 'POST', 'Patient', { resourceType: 'Patient' });
  t.equal(created.status, 201);
  t.ok(created.headers.get('location')!.startsWith(`${base}/Patient/`));
  t.notMatch(created.headers.get('content-location') ?? '', emulator.origin);
});

t.test(
  'searches ask upstream for strict handling; long ones go as a form, never both',
  async (t) => {
    const { base, emulator } = await start(t, {});
    t.equal((await fhir(base, 'GET', 'Patient?gender=other')).status, 200);
    const get = emulator.requests.at(-1)!;
    t.equal(get.method, 'GET');
    t.equal(get.headers.prefer, 'handling=strict');
    t.match(get.query, /gender=other/);

    // Long enough to go as POST _search with the parameters in the body only.
    const ids = Array.from({ length: 150 }, (_, i) => `patient-${i}-abcdefghijklmnopqrstuvwxyz`);
    const search = await fhir(base, 'POST', 'Patient/_search', `_id=${ids.join(',')}`, {
      'content-type': 'application/x-www-form-urlencoded',
    });
    t.equal(search.status, 200);
    const post = emulator.requests.at(-1)!;
    t.equal(post.method, 'POST');
    t.equal(post.path, 'Patient/_search');
    t.equal(post.query, '', 'no parameters in the URL');
    t.match(post.body, /_id=patient-0-/);
    t.equal(post.headers.prefer, 'handling=strict');
  },
);

t.test(
  'a patient token’s search carries its compartment upstream; others’ reads are 404',
  async (t) => {
    const { base, emulator } = await start(t);
    for (const id of ['p1', 'p2']) {
      await fhir(base, 'PUT', `Patient/${id}`, { resourceType: 'Patient', id });
      await fhir(base, 'PUT', `Observation/o-${id}`, {
        resourceType: 'Observation',
        id: `o-${id}`,
        status: 'final',
        code: { text: 'x' },
        subject: { reference: `Patient/${id}` },
      });
    }
    const patient = bearer({ scope: 'patient/*.rs', patient: 'p1', role: 'PATIENT' });
    const found = await fhir(base, 'GET', 'Observation', undefined, patient);
    t.equal(found.status, 200);
    t.same(
      found.body.entry.map((e: { resource: { id: string } }) => e.resource.id),
      ['o-p1'],
    );
    const upstream = emulator.requests.at(-1)!;
    t.match(
      decodeURIComponent(upstream.query),
      /(subject|patient)=Patient\/p1/,
      'the constraint is in the query HealthLake got',
    );

    t.equal((await fhir(base, 'GET', 'Observation/o-p1', undefined, patient)).status, 200);
    const other = await fhir(base, 'GET', 'Observation/o-p2', undefined, patient);
    t.equal(other.status, 404, 'another patient’s resource is 404, not 403');
    t.equal((await fhir(base, 'GET', 'Observation/nope', undefined, patient)).status, 404);
    t.equal((await fhir(base, 'GET', 'Patient/p2', undefined, patient)).status, 404);
    t.equal(
      (await fhir(base, 'GET', 'Observation/o-p2/_history/1', undefined, patient)).status,
      404,
    );
    const history = await fhir(base, 'GET', 'Observation/_history', undefined, patient);
    t.equal(history.status, 200, 'type history: the visible resources’ histories, merged');
    t.same(
      history.body.entry.map((e: { resource: { id: string } }) => e.resource.id),
      ['o-p1'],
    );
    const system = await fhir(base, 'GET', '_history', undefined, patient);
    t.equal(system.status, 403, 'system history can’t be constrained upstream: refused');
  },
);

t.test('a practitioner reaches the patients linked to them, resolved upstream', async (t) => {
  const { base } = await start(t);
  await fhir(base, 'PUT', 'Patient/mine', {
    resourceType: 'Patient',
    id: 'mine',
    generalPractitioner: [{ reference: 'Practitioner/dr1' }],
  });
  await fhir(base, 'PUT', 'Patient/theirs', { resourceType: 'Patient', id: 'theirs' });
  const doctor = bearer({ scope: 'user/*.cruds', role: 'PROVIDER', fhirUser: 'Practitioner/dr1' });
  const found = await fhir(base, 'GET', 'Patient', undefined, doctor);
  t.same(
    found.body.entry.map((e: { resource: { id: string } }) => e.resource.id),
    ['mine'],
  );
  t.equal((await fhir(base, 'GET', 'Patient/theirs', undefined, doctor)).status, 404);
  const write = await fhir(
    base,
    'PUT',
    'Patient/theirs',
    { resourceType: 'Patient', id: 'theirs', active: true },
    doctor,
  );
  t.equal(write.status, 403, 'writing outside the compartment is refused');
  t.equal(
    (await fhir(base, 'GET', 'Patient/theirs')).body.active,
    undefined,
    'and nothing reached HealthLake',
  );
});

/** A request sent as written: fetch would resolve `%2E%2E` as a dot segment before sending. */
function raw(base: string, method: string, path: string, body?: unknown) {
  const url = new URL(base);
  return new Promise<number>((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        method,
        path: `${url.pathname}/${path}`,
        headers: {
          authorization: `Bearer ${testToken()}`,
          accept: 'application/fhir+json',
          ...(body ? { 'content-type': 'application/fhir+json' } : {}),
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body ? JSON.stringify(body) : undefined);
  });
}

t.test('ids that are dot segments never become upstream paths', async (t) => {
  const { base, emulator } = await start(t);
  const before = emulator.requests.length;
  t.equal(await raw(base, 'GET', 'Patient/%2E%2E'), 404);
  t.equal(await raw(base, 'GET', 'Patient/%2E%2E/_history/1'), 404);
  t.equal(await raw(base, 'GET', 'Patient/%2E/_history'), 404);
  t.equal(await raw(base, 'PUT', 'Patient/%2E%2E', { resourceType: 'Patient', id: '..' }), 400);
  t.notOk(
    emulator.requests.slice(before).some((r) => /(^|\/)\.\.?(\/|$)/.test(r.path)),
    'no request upstream named a dot segment',
  );
});
