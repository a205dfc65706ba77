/**
 * Who may read a Binary: it follows the document it belongs to. The world: p1 and p3 have dr1
 * as general practitioner, p2 has dr2. d1 (p1, a clinical note) and d2 (p2) carry inline data,
 * so each has a Binary (b1, b2); d1x is another of p1's documents, not a clinical note (b1x);
 * pb1 was uploaded raw with X-Security-Context Patient/p1; free has no securityContext.
 */
import { randomUUID } from 'node:crypto';
import t, { type Test } from 'tap';
import { fhir, testToken } from '../helpers.js';
import { patient, practitioner } from '../fixtures.js';
import { rawRequest, startDocumentServer, SYSTEM, type Json } from './helpers.js';

const NOTE = {
  coding: [
    {
      system: 'http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category',
      code: 'clinical-note',
    },
  ],
};
const OTHER = { coding: [{ system: 'http://example.org/category', code: 'imaging' }] };

const bearer = (claims: Json, headers: Record<string, string> = {}) => ({
  authorization: `Bearer ${testToken(claims)}`,
  ...headers,
});

async function seed(base: string) {
  const put = async (resource: Json) => {
    const res = await fhir(base, 'PUT', `${resource.resourceType}/${resource.id}`, resource);
    if (res.status >= 300) throw new Error(`seeding ${resource.id}: ${res.text}`);
    return res.body as Json;
  };
  await put({ ...practitioner(), id: 'dr1' });
  await put({ ...practitioner(), id: 'dr2' });
  const gp = (dr: string) => ({ generalPractitioner: [{ reference: `Practitioner/${dr}` }] });
  await put({ ...patient(), id: 'p1', ...gp('dr1') });
  await put({ ...patient(), id: 'p2', ...gp('dr2') });
  await put({ ...patient(), id: 'p3', ...gp('dr1') });
  const doc = async (id: string, subject: string, category: Json) => {
    const stored = await put({
      resourceType: 'DocumentReference',
      id,
      status: 'current',
      subject: { reference: subject },
      category: [category],
      content: [
        {
          attachment: {
            contentType: 'text/plain',
            data: Buffer.from(`${id} text`).toString('base64'),
          },
        },
      ],
    });
    return (stored.content[0].attachment.url as string).replace('Binary/', '');
  };
  const raw = async (context?: string) => {
    const res = await rawRequest(
      `${base}/Binary`,
      'POST',
      {
        ...SYSTEM,
        'content-type': 'text/plain',
        ...(context ? { 'x-security-context': context } : {}),
      },
      Buffer.from('raw'),
    );
    if (res.status !== 201) throw new Error(res.body.toString());
    return res.json().id as string;
  };
  return {
    b1: await doc('d1', 'Patient/p1', NOTE),
    b2: await doc('d2', 'Patient/p2', NOTE),
    b1x: await doc('d1x', 'Patient/p1', OTHER),
    pb1: await raw('Patient/p1'),
    free: await raw(),
  };
}

type World = Awaited<ReturnType<typeof seed>>;

const read = (base: string, id: string, headers: Record<string, string>) =>
  rawRequest(`${base}/Binary/${id}`, 'GET', { accept: '*/*', ...headers });

async function expectReads(
  t: Test,
  base: string,
  world: World,
  headers: Record<string, string>,
  readable: (keyof World)[],
) {
  for (const name of Object.keys(world) as (keyof World)[]) {
    const res = await read(base, world[name], headers);
    t.equal(res.status, readable.includes(name) ? 200 : 404, `${name}: ${res.status}`);
  }
}

/** The AuditEvents recorded for one request (by its X-Request-Id). */
async function eventsOf(base: string, requestId: string): Promise<Json[]> {
  const res = await fhir(base, 'GET', `AuditEvent?request-id=${requestId}`);
  return (res.body.entry ?? []).map((entry: Json) => entry.resource);
}

const patientsIn = (event: Json) =>
  event.entity
    .filter((e: Json) => e.role?.code === '1')
    .map((e: Json) => e.what.reference)
    .sort();

const { base } = await startDocumentServer(t);
const world = await seed(base);

t.test("a patient token reads its own documents' Binaries, and only those", async (t) => {
  const p1 = bearer({ scope: 'patient/*.rs', patient: 'p1', role: 'PATIENT' });
  await expectReads(t, base, world, p1, ['b1', 'b1x', 'pb1']);
  const own = bearer({ scope: 'user/*.rs', role: 'PATIENT', fhirUser: 'Patient/p2' });
  await expectReads(t, base, world, own, ['b2']);
});

t.test('Binary search, history and includes follow the read rule', async (t) => {
  const notesOnly = bearer({
    scope:
      'patient/DocumentReference.rs?category=clinical-note patient/Binary.rs patient/Patient.rs',
    patient: 'p1',
    role: 'PATIENT',
  });
  // b1x belongs to p1 but to a document this token can't read: nothing of it may show.
  const listed = await fhir(base, 'GET', 'Binary', undefined, notesOnly);
  t.equal(listed.status, 403, 'searching Binary needs access to every Binary');
  t.equal(listed.body.resourceType, 'OperationOutcome');
  const typeHistory = await fhir(base, 'GET', 'Binary/_history', undefined, notesOnly);
  t.equal(typeHistory.status, 403, 'type history of Binary needs access to every Binary');
  t.equal(typeHistory.body.resourceType, 'OperationOutcome');
  const own = await fhir(base, 'GET', `Binary/${world.b1x}/_history`, undefined, notesOnly);
  t.equal(own.status, 404, "an unreadable Binary's history is as if absent");
  const readable = await fhir(base, 'GET', `Binary/${world.b1}/_history`, undefined, notesOnly);
  t.equal(readable.status, 200, 'a readable one has its history');
  const revincluded = await fhir(
    base,
    'GET',
    'Patient?_id=p1&_revinclude=Binary:patient',
    undefined,
    notesOnly,
  );
  t.equal(revincluded.status, 200);
  const binaries = (revincluded.body.entry ?? [])
    .map((e: Json) => e.resource)
    .filter((r: Json) => r.resourceType === 'Binary')
    .map((r: Json) => r.id)
    .sort();
  t.same(binaries, [world.b1, world.pb1].sort(), '_revinclude reaches only readable Binaries');
  const everything = await fhir(base, 'GET', '_history?_count=500', undefined, notesOnly);
  if (everything.status === 200) {
    const ids = (everything.body.entry ?? []).map((e: Json) => e.fullUrl ?? '');
    t.notOk(
      ids.some((url: string) => url.includes(`Binary/${world.b1x}`)),
      'system history leaves unreachable Binaries out',
    );
  } else t.equal(everything.status, 403, 'or refuses system history');
  const admin = await fhir(base, 'GET', 'Binary?_count=50');
  t.equal(admin.status, 200, 'an unrestricted caller searches Binary');
  const adminHistory = await fhir(base, 'GET', 'Binary/_history?_count=50');
  t.equal(adminHistory.status, 200, "and reads Binary's type history");
  t.equal(adminHistory.body.type, 'history');
  t.ok(
    (adminHistory.body.entry ?? []).some((e: Json) => e.fullUrl?.includes(`Binary/${world.b1x}`)),
    'which lists every Binary',
  );
  const reached = await fhir(
    base,
    'GET',
    `Patient?_has:Binary:patient:_id=${world.b1x}`,
    undefined,
    notesOnly,
  );
  t.equal(reached.status, 403, '_has into Binary needs access to every Binary');
  const probe = await fhir(
    base,
    'POST',
    'Binary',
    {
      resourceType: 'Binary',
      contentType: 'text/plain',
      securityContext: { reference: 'Patient/p1' },
      data: 'eA==',
    },
    { ...notesOnly, 'if-none-exist': `_id=${world.b1x}` },
  );
  t.equal(probe.status, 403, 'a conditional create of Binary would answer its match unchecked');
  t.notOk(probe.text.includes(world.b1x), 'and says nothing of it');
});

t.test('v2 fine-grained: DocumentReference filters apply to document contexts only', async (t) => {
  const notesOnly = bearer({
    scope:
      'patient/DocumentReference.rs?category=clinical-note patient/Binary.rs patient/Patient.rs',
    patient: 'p1',
    role: 'PATIENT',
  });
  await expectReads(t, base, world, notesOnly, ['b1', 'pb1']);
  const noPatient = bearer({
    scope: 'patient/DocumentReference.rs patient/Binary.rs',
    patient: 'p1',
    role: 'PATIENT',
  });
  await expectReads(t, base, world, noPatient, ['b1', 'b1x']);
});

t.test("practitioners: their patients' documents, not others'", async (t) => {
  const dr1 = bearer({ scope: 'user/*.cruds', role: 'PROVIDER', fhirUser: 'Practitioner/dr1' });
  await expectReads(t, base, world, dr1, ['b1', 'b1x', 'pb1']);
  const dr2 = bearer({ scope: 'user/*.cruds', role: 'NURSE', fhirUser: 'Practitioner/dr2' });
  await expectReads(t, base, world, dr2, ['b2']);
});

t.test('unrestricted callers read everything, context-less Binaries included', async (t) => {
  const everything = Object.keys(world) as (keyof World)[];
  await expectReads(t, base, world, SYSTEM, everything);
  const admin = bearer({ scope: 'user/*.*', role: 'ADMIN', fhirUser: 'Practitioner/admin' });
  await expectReads(t, base, world, admin, everything);
  const glass = bearer(
    { scope: 'user/*.*', role: 'PROVIDER', fhirUser: 'Practitioner/dr2' },
    { 'x-break-glass': 'unconscious patient in ER' },
  );
  await expectReads(t, base, world, glass, everything);
});

t.test('a refused read is audited with the owning patient, and so is a granted one', async (t) => {
  const p1 = bearer({ scope: 'patient/*.rs', patient: 'p1', role: 'PATIENT' });
  const refusedId = randomUUID();
  const refused = await read(base, world.b2, { ...p1, 'x-request-id': refusedId });
  t.equal(refused.status, 404);
  const [event] = await eventsOf(base, refusedId);
  t.ok(event, 'the refusal left an AuditEvent');
  t.equal(event?.outcome, '4', 'as a failure');
  t.same(patientsIn(event!), ['Patient/p2'], 'naming the patient whose document it was');
  t.ok(event!.entity.some((e: Json) => e.what?.reference === `Binary/${world.b2}`));

  const grantedId = randomUUID();
  t.equal((await read(base, world.b1, { ...p1, 'x-request-id': grantedId })).status, 200);
  const [granted] = await eventsOf(base, grantedId);
  t.equal(granted?.outcome, '0');
  t.same(patientsIn(granted!), ['Patient/p1']);
});

t.test('a refused Binary entry in a batch is audited with its owning patient', async (t) => {
  const p1 = bearer({ scope: 'patient/*.rs', patient: 'p1', role: 'PATIENT' });
  const requestId = randomUUID();
  const batch = await fhir(
    base,
    'POST',
    '',
    {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [{ request: { method: 'GET', url: `Binary/${world.b2}` } }],
    },
    { ...p1, 'x-request-id': requestId },
  );
  t.match(batch.body.entry[0].response.status, /^404/);
  const events = await eventsOf(base, requestId);
  const refused = events.find((event) =>
    event.entity.some((e: Json) => e.what?.reference === `Binary/${world.b2}`),
  );
  t.ok(refused, 'the refused entry left an AuditEvent');
  t.equal(refused?.outcome, '4');
  t.same(patientsIn(refused!), ['Patient/p2'], 'naming the patient whose document it was');
});

t.test('a refused read of a deleted Binary still names its owner', async (t) => {
  const up = await rawRequest(
    `${base}/Binary`,
    'POST',
    { ...SYSTEM, 'content-type': 'text/plain', 'x-security-context': 'Patient/p3' },
    Buffer.from('gone soon'),
  );
  const id = up.json().id as string;
  t.equal((await fhir(base, 'DELETE', `Binary/${id}`)).status, 204);
  const p2 = bearer({ scope: 'patient/*.rs', patient: 'p2', role: 'PATIENT' });
  const requestId = randomUUID();
  const res = await read(base, id, { ...p2, 'x-request-id': requestId });
  t.equal(res.status, 404);
  const [event] = await eventsOf(base, requestId);
  t.same(event && patientsIn(event), ['Patient/p3']);
});

t.test('conditional update and delete of Binary: only for unrestricted callers', async (t) => {
  const dr1 = bearer({ scope: 'user/*.cruds', role: 'PROVIDER', fhirUser: 'Practitioner/dr1' });
  const del = await fhir(base, 'DELETE', `Binary?_id=${world.b1}`, undefined, dr1);
  t.equal(del.status, 403);
  const put = await fhir(
    base,
    'PUT',
    `Binary?_id=${world.b1}`,
    {
      resourceType: 'Binary',
      contentType: 'text/plain',
      securityContext: { reference: 'Patient/p1' },
    },
    dr1,
  );
  t.equal(put.status, 403);
  t.equal((await read(base, world.b1, SYSTEM)).body.toString(), 'd1 text', 'b1 unchanged');
});

t.test('access does not follow a securityContext id that now names another patient', async (t) => {
  const put = (resource: Json) =>
    fhir(base, 'PUT', `${resource.resourceType}/${resource.id}`, resource);
  const created = await put({
    resourceType: 'DocumentReference',
    id: 'moved',
    status: 'current',
    subject: { reference: 'Patient/p1' },
    content: [
      {
        attachment: { contentType: 'text/plain', data: Buffer.from('p1 only').toString('base64') },
      },
    ],
  });
  const binary = (created.body.content[0].attachment.url as string).replace('Binary/', '');
  const dr1 = bearer({ scope: 'user/*.cruds', role: 'PROVIDER', fhirUser: 'Practitioner/dr1' });
  t.equal((await read(base, binary, dr1)).status, 200, "dr1 reads p1's document");
  // The id is deleted and taken again for p3, also dr1's patient: the old Binary is still p1's.
  t.equal((await fhir(base, 'DELETE', 'DocumentReference/moved')).status, 204);
  const reused = await put({
    resourceType: 'DocumentReference',
    id: 'moved',
    status: 'current',
    subject: { reference: 'Patient/p3' },
    content: [{ attachment: { contentType: 'text/plain', url: `Binary/${binary}` } }],
  });
  t.equal(reused.status, 201, reused.text);
  t.equal(
    (await read(base, binary, dr1)).status,
    404,
    "dr1 can read the new document, not p1's bytes",
  );
  const p3 = bearer({ scope: 'patient/*.rs', patient: 'p3', role: 'PATIENT' });
  t.equal((await read(base, binary, p3)).status, 404, 'nor can p3');
});

t.test('writes: a context the caller cannot read is 403, before any byte is stored', async (t) => {
  const dr1 = bearer({ scope: 'user/*.cruds', role: 'PROVIDER', fhirUser: 'Practitioner/dr1' });
  const upload = (headers: Record<string, string>) =>
    rawRequest(
      `${base}/Binary`,
      'POST',
      { 'content-type': 'text/plain', ...headers },
      Buffer.from('x'),
    );
  t.equal((await upload({ ...dr1, 'x-security-context': 'DocumentReference/d2' })).status, 403);
  t.equal((await upload({ ...dr1, 'x-security-context': 'Patient/p2' })).status, 403);
  t.equal((await upload(dr1)).status, 403, 'no context: only unrestricted callers');
  const ok = await upload({ ...dr1, 'x-security-context': 'DocumentReference/d1' });
  t.equal(ok.status, 201, "into their own patient's document");
  const p1 = bearer({ scope: 'patient/*.rs', patient: 'p1', role: 'PATIENT' });
  t.equal(
    (await upload({ ...p1, 'x-security-context': 'Patient/p1' })).status,
    403,
    'patients read only',
  );
  const update = await rawRequest(
    `${base}/Binary/${world.b2}`,
    'PUT',
    { 'content-type': 'text/plain', ...dr1, 'x-security-context': 'Patient/p1' },
    Buffer.from('x'),
  );
  t.equal(update.status, 404, "replacing someone else's Binary: as if absent");
  const gone = await fhir(base, 'DELETE', `Binary/${world.b2}`, undefined, dr1);
  t.equal(gone.status, 404);
});

t.test(
  'PROVIDER_ACCESS=all: providers are unrestricted, context-less Binaries included',
  async (t) => {
    const other = await startDocumentServer(t, {}, { providerAccess: 'all' });
    const w = await seed(other.base);
    const dr2 = bearer({ scope: 'user/*.cruds', role: 'PROVIDER', fhirUser: 'Practitioner/dr2' });
    await expectReads(t, other.base, w, dr2, Object.keys(w) as (keyof World)[]);
  },
);
