/**
 * The de-identified-only grant: `telefhir/export.deidentified` on its own lets a backend service
 * start de-identified exports, poll and download them, and nothing else (REST answers 403); the
 * built-in authorization server grants it through client_credentials. And a de-identified
 * export can't be aimed at a person: no `patient`, no Group, no `_typeFilter` on anything but
 * codes and statuses.
 */
import t, { type Test } from 'tap';
import { fhir, startServer } from '../helpers.js';
import { builtInConfig, devToken, postForm, registerClient } from '../oauth/helpers.js';
import { ASYNC, bearer, download, drain, exportServer, kick, SERVICE } from './export-helpers.js';
import type { Manifest } from './export-helpers.js';

const DEID_ONLY = bearer({
  sub: 'svc-research',
  client_id: 'svc-research',
  scope: 'telefhir/export.deidentified',
});
const DEID_SERVICE = bearer({
  sub: 'svc-c',
  client_id: 'svc-c',
  scope: 'system/Patient.rs telefhir/export.deidentified',
});

t.test('attack: the scope alone reads nothing through REST', async (t) => {
  const running = await exportServer(t);
  for (const path of [
    'Patient/p1',
    'Patient?family=Other',
    'Patient/p1/$everything',
    'Observation',
  ]) {
    const res = await fhir(running.base, 'GET', path, undefined, DEID_ONLY);
    t.equal(res.status, 403, path);
    t.equal(res.body?.resourceType, 'OperationOutcome', `${path}: an OperationOutcome`);
  }
  for (const path of ['$export', 'Patient/$export', '$export?_type=Patient']) {
    t.equal((await kick(running.base, path, DEID_ONLY)).res.status, 403, `${path} identified`);
  }
  const manifest = await exported(t, running, '$export?_deidentify=safe-harbor', DEID_ONLY);
  const types = new Set(manifest.output.map((file) => file.type));
  t.ok(types.has('Patient') && types.has('Observation'), 'a server-wide export of the types');
  t.notOk(types.has('AuditEvent') || types.has('Binary'), 'never AuditEvent or Binary');
  const output = await download(running.base, manifest, DEID_ONLY);
  t.notOk(
    output.some((r) => r.resourceType === 'Patient' && ['p1', 'p2'].includes(r.id!)),
    'pseudonymous ids only',
  );
  t.notOk(JSON.stringify(output).includes('Other'), 'no family name');
  const patientOnly = await exported(
    t,
    running,
    '$export?_deidentify=safe-harbor&_type=Patient',
    DEID_ONLY,
  );
  t.same(
    patientOnly.output.map((f) => f.type),
    ['Patient'],
    '_type narrows it',
  );
});

t.test('a service with read scopes may also ask for identified exports of them', async (t) => {
  const running = await exportServer(t);
  t.equal((await kick(running.base, '$export?_type=Patient', DEID_SERVICE)).res.status, 202);
  const refused = await kick(
    running.base,
    '$export?_type=Observation&_deidentify=safe-harbor',
    DEID_SERVICE,
  );
  t.equal(refused.res.status, 403, 'de-identified is still only what its scopes allow');
});

t.test('attack: a de-identified export aimed at a person is refused', async (t) => {
  const running = await exportServer(t);
  const { base } = running;
  const refusedGet = [
    '$export?_deidentify=safe-harbor&_typeFilter=Patient%3Ffamily%3DOther',
    '$export?_deidentify=safe-harbor&_typeFilter=Patient%3Fbirthdate%3D1980-01-01',
    '$export?_deidentify=safe-harbor&_typeFilter=Patient%3F_id%3Dp1',
    '$export?_deidentify=safe-harbor&_typeFilter=Patient%3Fidentifier%3Dx',
    '$export?_deidentify=safe-harbor&_typeFilter=Patient%3Ftelecom%3Dx',
    '$export?_deidentify=safe-harbor&_typeFilter=Patient%3Fgender%3Dmale%26family%3DOther',
    '$export?_deidentify=safe-harbor&_typeFilter=Observation%3Fsubject%3DPatient%2Fp1',
    '$export?_deidentify=safe-harbor&_typeFilter=Observation%3Fsubject.family%3DOther',
    '$export?_deidentify=safe-harbor&_typeFilter=Patient%3F_has%3AObservation%3Asubject%3Acode%3Dx',
    '$export?_deidentify=safe-harbor&_typeFilter=Observation%3Fcode%3Atext%3Dx',
    'Group/g1/$export?_deidentify=safe-harbor',
  ];
  for (const headers of [DEID_ONLY, SERVICE]) {
    const admin =
      headers === SERVICE ? bearer({ sub: 'a', scope: 'system/*.rs', role: 'ADMIN' }) : headers;
    for (const path of refusedGet) {
      const { res, status } = await kick(base, path, admin);
      t.equal(res.status, 400, path);
      t.equal(res.body?.resourceType, 'OperationOutcome');
      t.match(res.body?.issue?.[0]?.diagnostics, /de-identified/, 'says why');
      t.equal(status, '', 'no job');
    }
    const listed = await kick(base, '$export', admin, {
      resourceType: 'Parameters',
      parameter: [
        { name: '_deidentify', valueCode: 'safe-harbor' },
        { name: 'patient', valueReference: { reference: 'Patient/p1' } },
      ],
    });
    t.equal(listed.res.status, 400, 'patient list');
  }
  for (const path of [
    '$export?_deidentify=safe-harbor&_typeFilter=Observation%3Fcode%3Dx%7Cy%26status%3Dfinal',
    '$export?_deidentify=safe-harbor&_typeFilter=Patient%3Fgender%3Dmale',
    '$export?_deidentify=safe-harbor&_typeFilter=Condition%3Fclinical-status%3Dactive',
    '$export?_deidentify=safe-harbor&_typeFilter=Observation%3Fcategory%3Amissing%3Dfalse',
    '$export?_deidentify=safe-harbor&_since=2020-01-01T00%3A00%3A00Z',
  ]) {
    const { res, status } = await kick(base, path, DEID_ONLY);
    t.equal(res.status, 202, `allowed: ${path}`);
    // Cancelled at once: a caller may have only EXPORT_MAX_ACTIVE_JOBS jobs at a time.
    t.equal((await fhir(base, 'DELETE', status, undefined, DEID_ONLY)).status, 202);
  }
});

t.test('the built-in server grants the scope through client_credentials', async (t) => {
  const config = await builtInConfig(t);
  config.bulkExport = { ...config.bulkExport, pollMs: 0 };
  const running = await startServer(t, config);
  const server = {
    ...running,
    origin: new URL(running.base).origin,
    auth: `${new URL(running.base).origin}/auth`,
  };
  const seed = { authorization: `Bearer ${devToken(config)}` };
  const put = await fhir(
    running.base,
    'PUT',
    'Patient/p9',
    {
      resourceType: 'Patient',
      id: 'p9',
      name: [{ family: 'Zebedee' }],
    },
    seed,
  );
  t.equal(put.status, 201);
  const client = await registerClient(server, {
    client_name: 'research',
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: ['client_credentials'],
    scope: 'telefhir/export.deidentified',
  });
  const basic = `Basic ${Buffer.from(`${client.client_id}:${client.client_secret}`).toString('base64')}`;
  const token = await postForm(
    `${server.auth}/token`,
    { grant_type: 'client_credentials', scope: 'telefhir/export.deidentified' },
    { authorization: basic },
  );
  t.equal(token.status, 200, token.text);
  t.equal(token.json.scope, 'telefhir/export.deidentified');
  const headers = { authorization: `Bearer ${token.json.access_token}` };
  t.equal(
    (await fhir(running.base, 'GET', 'Patient/p9', undefined, headers)).status,
    403,
    'no REST',
  );
  t.equal((await kick(running.base, '$export', headers)).res.status, 403, 'no identified export');
  const manifest = await exported(
    t,
    running,
    '$export?_deidentify=safe-harbor&_type=Patient',
    headers,
  );
  const output = await download(running.base, manifest, headers);
  t.equal(output.length, 1);
  t.notOk(JSON.stringify(output).includes('Zebedee'));
  t.not(output[0]!.id, 'p9');
});

async function exported(
  t: Test,
  running: Awaited<ReturnType<typeof exportServer>>,
  path: string,
  headers: Record<string, string>,
): Promise<Manifest> {
  const { res, status } = await kick(running.base, path, headers);
  t.equal(res.status, 202, `${path}: ${res.text}`);
  await drain(running);
  const done = await fhir(running.base, 'GET', status, undefined, { ...headers, ...ASYNC });
  t.equal(done.status, 200, done.text);
  return done.body as Manifest;
}
