/**
 * Bulk Data $export over HTTP on the configured store: first what it must refuse (requests
 * the spec calls errors, other patients, narrower scopes, roles without the grant, other
 * clients at the status and file URLs), then the full asynchronous cycle at each level.
 */
import t from 'tap';
import { fhir } from '../helpers.js';
import { usingHealthLake } from '../healthlake/harness.js';
import {
  ASYNC,
  OTHER_SERVICE,
  SAME_CLIENT_OTHER_USER,
  SERVICE,
  bearer,
  download,
  drain,
  exportServer,
  keysOf,
  kick,
  type Manifest,
} from './export-helpers.js';

/** HealthLake can't page one compartment: Group level and `patient` are refused there (501). */
const onHealthLake = usingHealthLake();

const P1_RECORD = [
  'DocumentReference/d1',
  'DocumentReference/d2',
  'DocumentReference/d3',
  'Encounter/e1',
  'MedicationRequest/mr1',
  'Observation/o1',
  'Observation/o2',
  'Patient/p1',
];

t.test('kick-off refusals are 400 OperationOutcomes, before any job exists', async (t) => {
  const { base } = await exportServer(t);
  const cases: [string, string, Record<string, string>][] = [
    ['no Prefer: respond-async', '$export', {}],
    ['an unknown _type', '$export?_type=Spaceship', ASYNC],
    ['an unknown _outputFormat', '$export?_outputFormat=text/csv', ASYNC],
    ['a bad _since', '$export?_since=yesterday', ASYNC],
    [
      'a _typeFilter with an unknown parameter',
      '$export?_typeFilter=Observation%3Fnope%3D1',
      ASYNC,
    ],
    [
      'a _typeFilter of a type not exported',
      '$export?_type=Patient&_typeFilter=Observation%3Fstatus%3Dfinal',
      ASYNC,
    ],
    ['an unknown parameter', '$export?_elements=id', ASYNC],
    [
      'a type outside the compartment at Patient level',
      'Patient/$export?_type=Practitioner',
      ASYNC,
    ],
    ['_deidentify, a method not wired on this server', '$export?_deidentify=k-anonymity', ASYNC],
  ];
  for (const [name, path, headers] of cases) {
    const res = await fhir(base, 'GET', path, undefined, { ...SERVICE, ...headers });
    t.equal(res.status, 400, name);
    t.equal(res.body?.resourceType, 'OperationOutcome', `${name}: an OperationOutcome`);
    t.notOk(res.headers.get('content-location'), `${name}: no job`);
  }
  const post = await fhir(
    base,
    'POST',
    '$export',
    { resourceType: 'Parameters', parameter: [{ name: '_type', valueString: 'Nope' }] },
    { ...SERVICE, ...ASYNC },
  );
  t.equal(post.status, 400, 'POST with an unknown _type');
});

t.test('security: scopes, roles, patients and other clients', async (t) => {
  const running = await exportServer(t);
  const { base } = running;

  await t.test('a client with Patient and Observation scopes exports only those', async (t) => {
    const narrow = bearer({
      sub: 'svc-n',
      client_id: 'svc-n',
      scope: 'system/Patient.rs system/Observation.rs',
    });
    const refused = await kick(base, '$export?_type=Encounter', narrow);
    t.equal(refused.res.status, 403, '_type beyond the scopes is 403');
    const { res, status } = await kick(base, '$export', narrow);
    t.equal(res.status, 202);
    await drain(running);
    const done = await fhir(base, 'GET', status, undefined, narrow);
    t.equal(done.status, 200);
    const manifest = done.body as Manifest;
    t.same([...new Set(manifest.output.map((o) => o.type))].sort(), ['Observation', 'Patient']);
    const resources = await download(base, manifest, narrow);
    t.same(
      [...new Set(resources.map((r) => r.resourceType))].sort(),
      ['Observation', 'Patient'],
      'nothing else in the files',
    );
  });

  await t.test("a patient's Patient/$export is their compartment, nobody else's", async (t) => {
    const p1 = bearer({
      scope: 'patient/*.rs',
      patient: 'p1',
      role: 'PATIENT',
      fhirUser: 'Patient/p1',
    });
    const { res, status } = await kick(base, 'Patient/$export', p1);
    t.equal(res.status, 202);
    await drain(running);
    const done = await fhir(base, 'GET', status, undefined, p1);
    const resources = await download(base, done.body as Manifest, p1);
    t.same(keysOf(resources), P1_RECORD);
    t.notMatch(JSON.stringify(resources), /Patient\/p2|"p2"|"o3"|"e2"|"d4"/, 'nothing of p2');
    const listed = await kick(base, 'Patient/$export', p1, {
      resourceType: 'Parameters',
      parameter: [{ name: 'patient', valueReference: { reference: 'Patient/p2' } }],
    });
    if (onHealthLake) {
      t.equal(listed.res.status, 501, 'naming patients: not with this store');
      t.equal(listed.res.body.resourceType, 'OperationOutcome');
      return;
    }
    t.equal(listed.res.status, 202, 'naming p2 is accepted...');
    await drain(running);
    const other = await fhir(base, 'GET', listed.status, undefined, p1);
    t.same((other.body as Manifest).output, [], '...and exports nothing of p2');
  });

  await t.test('a role without the grant is refused', async (t) => {
    const desk = bearer({ scope: 'user/*.rs', role: 'RECEPTIONIST', fhirUser: 'Practitioner/dr2' });
    const res = await kick(base, 'Patient/$export?_type=Observation', desk);
    t.equal(res.res.status, 403, 'front desk: no clinical data');
    const group = await kick(base, 'Group/g1/$export', desk);
    t.equal(group.res.status, 403, 'front desk: no Group');
    const p1 = bearer({
      scope: 'patient/*.rs',
      patient: 'p1',
      role: 'PATIENT',
      fhirUser: 'Patient/p1',
    });
    const g = await kick(base, 'Group/g1/$export', p1);
    t.ok([403, 404].includes(g.res.status), `a patient can't export a Group (${g.res.status})`);
    const none = bearer({ scope: 'openid', role: 'PATIENT', fhirUser: 'Patient/p1' });
    t.equal((await kick(base, '$export', none)).res.status, 403, 'no resource scope at all');
  });

  await t.test('only the client and user who started a job see it', async (t) => {
    const { status } = await kick(base, '$export?_type=Patient', SERVICE);
    for (const [who, headers] of [
      ['another client', OTHER_SERVICE],
      ['the same client for another user', SAME_CLIENT_OTHER_USER],
    ] as const) {
      t.equal((await fhir(base, 'GET', status, undefined, headers)).status, 404, `${who}: poll`);
      t.equal(
        (await fhir(base, 'DELETE', status, undefined, headers)).status,
        404,
        `${who}: cancel`,
      );
    }
    await drain(running);
    const done = await fhir(base, 'GET', status, undefined, SERVICE);
    t.equal(done.status, 200);
    const file = (done.body as Manifest).output[0]!.url.slice(base.length + 1);
    for (const headers of [OTHER_SERVICE, SAME_CLIENT_OTHER_USER]) {
      const res = await fhir(base, 'GET', file, undefined, {
        ...headers,
        accept: 'application/fhir+ndjson',
      });
      t.equal(res.status, 404, 'another caller downloading the file');
      t.notMatch(res.text, /"resourceType":"Patient"/);
    }
    const anonymous = await fetch(`${base}/${file}`);
    t.equal(anonymous.status, 401, 'the bearer token is required');
    const narrowed = bearer({ sub: 'svc-a', client_id: 'svc-a', scope: 'system/Observation.rs' });
    const res = await fhir(base, 'GET', file, undefined, narrowed);
    t.equal(res.status, 404, 'the same client whose grant has narrowed: not its job any more');
    t.equal((await fhir(base, 'GET', '_export/not-a-job', undefined, SERVICE)).status, 404);
  });

  await t.test('a de-identified-only token never gets identified output', async (t) => {
    const deid = bearer({
      sub: 'svc-d',
      client_id: 'svc-d',
      scope: 'telefhir/export.deidentified',
    });
    t.equal((await kick(base, '$export', deid)).res.status, 403);
    t.equal((await kick(base, 'Patient/$export', deid)).res.status, 403);
  });
});

t.test('the asynchronous cycle at each level', async (t) => {
  const running = await exportServer(t, { fileResources: 2 });
  const { base } = running;

  await t.test('system level: every type, files of at most 2, absolute URLs', async (t) => {
    const { res, status } = await kick(
      base,
      '$export?_outputFormat=application/fhir+ndjson',
      SERVICE,
    );
    t.equal(res.status, 202);
    t.match(res.headers.get('content-location'), /^http:\/\/127\.0\.0\.1:\d+\/fhir\/_export\//);
    const pending = await fhir(base, 'GET', status, undefined, SERVICE);
    t.equal(pending.status, 202, 'queued: 202');
    t.ok(pending.headers.get('x-progress'));
    t.ok(pending.headers.get('retry-after'));
    // Store pages of 3 (HealthLake: next links), so a type spans pages and files.
    running.app.exportWorker.pageSize = 3;
    await drain(running);
    delete running.app.exportWorker.pageSize;
    const done = await fhir(base, 'GET', status, undefined, SERVICE);
    t.equal(done.status, 200);
    const manifest = done.body as Manifest;
    t.equal(manifest.requiresAccessToken, true);
    t.match(manifest.request, /\/fhir\/\$export\?_outputFormat=/);
    t.ok(Date.parse(manifest.transactionTime));
    t.same(manifest.error, []);
    t.ok(manifest.output.every((o) => o.count <= 2 && o.url.startsWith(base)));
    const file = await fetch(manifest.output[0]!.url, { headers: { ...SERVICE } });
    t.equal(file.headers.get('content-type'), 'application/fhir+ndjson');
    const resources = await download(base, manifest, SERVICE);
    const keys = keysOf(resources);
    t.same(keys, [...new Set(keys)], 'no duplicates');
    for (const key of [
      ...P1_RECORD,
      'Patient/p2',
      'Observation/o3',
      'Practitioner/dr1',
      'Group/g1',
    ]) {
      t.ok(keys.includes(key), key);
    }
    t.notOk(
      keys.some((k) => k.startsWith('AuditEvent/')),
      'no AuditEvents',
    );
  });

  await t.test('Patient level with _type and _typeFilter', async (t) => {
    const filter = encodeURIComponent('Observation?_id=o1,o3');
    const { status } = await kick(
      base,
      `Patient/$export?_type=Observation,Patient&_typeFilter=${filter}`,
      SERVICE,
    );
    await drain(running);
    const done = await fhir(base, 'GET', status, undefined, SERVICE);
    const keys = keysOf(await download(base, done.body as Manifest, SERVICE));
    t.same(keys, ['Observation/o1', 'Observation/o3', 'Patient/p1', 'Patient/p2']);
  });

  await t.test('Group level: the members only; _since', async (t) => {
    const { res, status } = await kick(base, 'Group/g1/$export', SERVICE, {
      resourceType: 'Parameters',
    });
    if (onHealthLake) {
      t.equal(res.status, 501, 'Group level: not with this store');
      t.equal(res.body.resourceType, 'OperationOutcome');
      t.equal((await kick(base, 'Group/g1/$export', SERVICE)).res.status, 501, 'GET too');
      return;
    }
    t.equal(res.status, 202, 'POST kick-off');
    await drain(running);
    const done = await fhir(base, 'GET', status, undefined, SERVICE);
    t.same(keysOf(await download(base, done.body as Manifest, SERVICE)), P1_RECORD);
    const filtered = encodeURIComponent('Observation?_id=o2');
    const f = await kick(
      base,
      `Group/g1/$export?_type=Observation&_typeFilter=${filtered}`,
      SERVICE,
    );
    await drain(running);
    const fd = await fhir(base, 'GET', f.status, undefined, SERVICE);
    t.same(keysOf(await download(base, fd.body as Manifest, SERVICE)), ['Observation/o2']);
    const future = new Date(Date.now() + 3_600_000).toISOString();
    const since = await kick(
      base,
      `Group/g1/$export?_since=${encodeURIComponent(future)}`,
      SERVICE,
    );
    await drain(running);
    const sd = await fhir(base, 'GET', since.status, undefined, SERVICE);
    t.same((sd.body as Manifest).output, [], 'nothing updated since a future instant');
    t.equal((await kick(base, 'Group/nope/$export', SERVICE)).res.status, 404, 'unknown Group');
  });

  await t.test('cancel: 202, then 404', async (t) => {
    const { status } = await kick(base, '$export', SERVICE);
    t.equal((await fhir(base, 'DELETE', status, undefined, SERVICE)).status, 202);
    t.equal((await fhir(base, 'GET', status, undefined, SERVICE)).status, 404);
    t.equal((await fhir(base, 'DELETE', status, undefined, SERVICE)).status, 404);
    await drain(running);
    t.equal((await fhir(base, 'GET', status, undefined, SERVICE)).status, 404, 'not revived');
  });
});

t.test('the worker timer finishes a job by itself', async (t) => {
  const running = await exportServer(t, { pollMs: 50 });
  const { base } = running;
  const { status } = await kick(base, '$export?_type=Patient', SERVICE);
  let done = await fhir(base, 'GET', status, undefined, SERVICE);
  for (let i = 0; i < 100 && done.status === 202; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    done = await fhir(base, 'GET', status, undefined, SERVICE);
  }
  t.equal(done.status, 200);
  t.same(keysOf(await download(base, done.body as Manifest, SERVICE)), [
    'Patient/p1',
    'Patient/p2',
  ]);
});

t.test(
  'the CapabilityStatement lists $export at each level, and its definitions are served',
  async (t) => {
    const { base } = await exportServer(t);
    const statement = (await fhir(base, 'GET', 'metadata')).body;
    t.ok(
      statement.instantiates.includes(
        'http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data',
      ),
    );
    const rest = statement.rest[0];
    t.same(
      rest.operation.map((o: { name: string }) => o.name),
      ['export'],
      'system level',
    );
    const ops = (type: string) =>
      rest.resource
        .find((r: { type: string }) => r.type === type)
        .operation.map((o: { definition: string }) => o.definition.split('/').pop());
    t.ok(ops('Patient').includes('patient-export'));
    t.ok(ops('Group').includes('group-export'));
    for (const id of ['export', 'patient-export', 'group-export']) {
      const res = await fhir(base, 'GET', `OperationDefinition/${id}`);
      t.equal(res.status, 200, id);
      t.ok(
        res.body.parameter.some((p: { name: string }) => p.name === '_deidentify'),
        `${id} declares _deidentify`,
      );
    }
  },
);
