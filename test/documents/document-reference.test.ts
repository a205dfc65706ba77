/**
 * DocumentReference with inline attachment data: the bytes move to the blob store on every
 * write path, the stored document points at a Binary, and a write that fails leaves nothing.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import t, { type Test } from 'tap';
import type { Resource } from 'fhir/r4.js';
import { fhir, testToken } from '../helpers.js';
import { patient, practitioner } from '../fixtures.js';
import {
  blobFiles,
  count,
  interruptedUpload,
  rawRequest,
  sha1Base64,
  sha256,
  startDocumentServer,
  SYSTEM,
  type Json,
} from './helpers.js';

const b64 = (data: Buffer | string) => Buffer.from(data).toString('base64');

function document(subject: string, ...data: Buffer[]): Json {
  return {
    resourceType: 'DocumentReference',
    status: 'current',
    subject: { reference: subject },
    content: data.map((bytes, i) => ({
      attachment: {
        contentType: i ? 'image/png' : 'application/pdf',
        title: `part ${i}`,
        data: b64(bytes),
      },
    })),
  };
}

/** Every stored version of `type`, as the database holds it. */
async function storedVersions(app: FastifyInstance, type: string): Promise<Resource[]> {
  const page = await app.store.history(
    { type, count: 1000 },
    { requestId: 'test', access: 'unrestricted' },
  );
  return page.versions.flatMap((v) => (v.resource ? [v.resource] : []));
}

async function nothingInline(t: Test, app: FastifyInstance) {
  for (const type of ['Binary', 'DocumentReference']) {
    const text = JSON.stringify(await storedVersions(app, type));
    t.notMatch(text, /"data"/, `no ${type} version holds data`);
  }
}

t.test('inline data moves to the blob store; the document keeps url, size and hash', async (t) => {
  const { base, app, dataDir } = await startDocumentServer(t);
  await fhir(base, 'PUT', 'Patient/p1', { ...patient(), id: 'p1' });
  const pdf = randomBytes(200 * 1024);
  const png = randomBytes(3000);
  const created = await fhir(base, 'POST', 'DocumentReference', document('Patient/p1', pdf, png));
  t.equal(created.status, 201, created.text.slice(0, 300));
  for (const [i, bytes] of [pdf, png].entries()) {
    const attachment = created.body.content[i].attachment;
    t.notOk('data' in attachment, `attachment ${i} has no data`);
    t.match(attachment.url, /^Binary\/[A-Za-z0-9-]+$/);
    t.equal(attachment.size, bytes.length);
    t.equal(attachment.hash, sha1Base64(bytes), 'hash: SHA-1, base64');
    t.equal(attachment.title, `part ${i}`, 'the rest of the attachment is kept');
    const binary = await fhir(base, 'GET', attachment.url);
    t.equal(binary.body.securityContext.reference, `DocumentReference/${created.body.id}`);
    t.equal(binary.body.contentType, attachment.contentType);
    const raw = await rawRequest(`${base}/${attachment.url}`, 'GET', { ...SYSTEM, accept: '*/*' });
    t.equal(sha256(raw.body), sha256(bytes), `attachment ${i}'s bytes come back`);
  }
  const read = await fhir(base, 'GET', `DocumentReference/${created.body.id}`);
  t.same(read.body.content, created.body.content, 'stored as returned');
  t.equal((await blobFiles(dataDir)).length, 2);
  const owned = await fhir(base, 'GET', 'Binary?patient=Patient/p1');
  t.equal(owned.body.total, 2, "Binary?patient= finds the owner's");
  await nothingInline(t, app);

  const updated = await fhir(base, 'PUT', `DocumentReference/${created.body.id}`, {
    ...document('Patient/p1', Buffer.from('v2')),
    id: created.body.id,
  });
  t.equal(updated.status, 200);
  t.not(
    updated.body.content[0].attachment.url,
    created.body.content[0].attachment.url,
    'a new Binary',
  );
  t.equal((await fhir(base, 'DELETE', `DocumentReference/${created.body.id}`)).status, 204);
  t.equal((await blobFiles(dataDir)).length, 3, 'deleting the document keeps every blob');
  const old = await rawRequest(`${base}/${created.body.content[0].attachment.url}`, 'GET', {
    ...SYSTEM,
    accept: '*/*',
  });
  t.equal(sha256(old.body), sha256(pdf), 'an unrestricted caller still reads the old bytes');
  await nothingInline(t, app);
});

t.test(
  'a write refused after the upload (403, 412) leaves no document, Binary or blob',
  async (t) => {
    const { base, app, dataDir } = await startDocumentServer(t);
    await fhir(base, 'PUT', 'Practitioner/dr1', { ...practitioner(), id: 'dr1' });
    await fhir(base, 'PUT', 'Patient/p1', {
      ...patient(),
      id: 'p1',
      generalPractitioner: [{ reference: 'Practitioner/dr1' }],
    });
    await fhir(base, 'PUT', 'Patient/p2', { ...patient(), id: 'p2' });
    const dr1 = {
      authorization: `Bearer ${testToken({ scope: 'user/*.cruds', role: 'PROVIDER', fhirUser: 'Practitioner/dr1' })}`,
    };
    const refused = await fhir(
      base,
      'POST',
      'DocumentReference',
      document('Patient/p2', randomBytes(5000)),
      dr1,
    );
    t.equal(refused.status, 403, "not dr1's patient");
    const own = await fhir(
      base,
      'POST',
      'DocumentReference',
      document('Patient/p1', randomBytes(5000)),
      dr1,
    );
    t.equal(own.status, 201, "dr1's own patient is fine");
    const stale = await fhir(
      base,
      'PUT',
      `DocumentReference/${own.body.id}`,
      {
        ...document('Patient/p1', randomBytes(5000)),
        id: own.body.id,
      },
      { ...dr1, 'if-match': 'W/"7"' },
    );
    t.equal(stale.status, 412, 'a stale If-Match, found by the store after the upload');
    t.equal(await count(base, 'DocumentReference'), 1);
    t.equal(await count(base, 'Binary'), 1);
    t.equal((await blobFiles(dataDir)).length, 1, "only the stored document's blob");
    await nothingInline(t, app);
  },
);

t.test('a client that drops the connection mid-upload leaves nothing', async (t) => {
  const { base, dataDir } = await startDocumentServer(t);
  await interruptedUpload(
    `${base}/DocumentReference`,
    { ...SYSTEM, 'content-type': 'application/fhir+json' },
    1024 * 1024,
  );
  // The server notices the drop on its own time; whatever it did by then must have left nothing.
  await new Promise((resolve) => setTimeout(resolve, 500));
  t.equal(await count(base, 'DocumentReference'), 0);
  t.equal(await count(base, 'Binary'), 0);
  t.same(await blobFiles(dataDir), []);
});

t.test(
  'transaction: Binary and inline documents go to the blob store, all or nothing',
  async (t) => {
    const { base, app, dataDir } = await startDocumentServer(t);
    const patientUrn = `urn:uuid:${randomUUID()}`;
    const bytes = randomBytes(10_000);
    const res = await fhir(base, 'POST', '', {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { fullUrl: patientUrn, resource: patient(), request: { method: 'POST', url: 'Patient' } },
        {
          resource: document(patientUrn, bytes),
          request: { method: 'POST', url: 'DocumentReference' },
        },
        {
          resource: {
            resourceType: 'Binary',
            contentType: 'text/plain',
            securityContext: { reference: patientUrn },
            data: b64('note'),
          },
          request: { method: 'POST', url: 'Binary' },
        },
      ],
    });
    t.equal(res.status, 200, res.text.slice(0, 400));
    const patientId = res.body.entry[0].response.location.split('/')[5];
    const binaryId = res.body.entry[2].response.location.split('/')[5];
    const owned = await fhir(base, 'GET', `Binary?patient=Patient/${patientId}`);
    t.equal(owned.body.total, 2, 'both Binaries belong to the new patient');
    const note = await rawRequest(`${base}/Binary/${binaryId}`, 'GET', {
      ...SYSTEM,
      accept: '*/*',
    });
    t.equal(note.body.toString(), 'note');
    t.equal((await blobFiles(dataDir)).length, 2);
    await nothingInline(t, app);

    const failing = await fhir(base, 'POST', '', {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          resource: document(`Patient/${patientId}`, randomBytes(10_000)),
          request: { method: 'POST', url: 'DocumentReference' },
        },
        {
          resource: { resourceType: 'Binary', contentType: 'text/plain', data: b64('x') },
          request: { method: 'POST', url: 'Binary' },
        },
        {
          resource: { resourceType: 'Patient', gender: 'not-a-gender' },
          request: { method: 'POST', url: 'Patient' },
        },
      ],
    });
    t.equal(failing.status, 422, 'the last entry fails');
    t.equal(await count(base, 'DocumentReference'), 1);
    t.equal(await count(base, 'Binary'), 2);
    t.equal((await blobFiles(dataDir)).length, 2, "the rolled-back entries' blobs are deleted");
  },
);

t.test(
  'batch: a Binary entry is stored like a direct one, and read back without its key',
  async (t) => {
    const { base, app } = await startDocumentServer(t);
    const res = await fhir(base, 'POST', '', {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        {
          resource: { resourceType: 'Binary', contentType: 'text/plain', data: b64('batch') },
          request: { method: 'POST', url: 'Binary' },
        },
        {
          resource: { resourceType: 'Binary', contentType: 'text/plain', data: '%%%' },
          request: { method: 'POST', url: 'Binary' },
        },
      ],
    });
    t.equal(res.status, 200);
    t.match(res.body.entry[0].response.status, /^201/);
    t.match(res.body.entry[1].response.status, /^422/);
    t.notMatch(JSON.stringify(res.body.entry[1]), '%%%');
    const id = res.body.entry[0].resource.id;
    const read = await fhir(base, 'POST', '', {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [{ request: { method: 'GET', url: `Binary/${id}` } }],
    });
    t.notMatch(read.text, 'blob-key', 'the key stays on the server');
    t.equal(read.body.entry[0].resource.id, id);
    await nothingInline(t, app);
  },
);

t.test('If-None-Exist that matches: the uploaded bytes are not kept', async (t) => {
  const { base, dataDir } = await startDocumentServer(t);
  await fhir(base, 'PUT', 'Patient/p1', { ...patient(), id: 'p1' });
  const doc = {
    ...document('Patient/p1', randomBytes(100)),
    identifier: [{ system: 'urn:x', value: 'one' }],
  };
  const first = await fhir(base, 'POST', 'DocumentReference', doc, {
    'if-none-exist': 'identifier=urn:x|one',
  });
  t.equal(first.status, 201);
  const again = await fhir(base, 'POST', 'DocumentReference', doc, {
    'if-none-exist': 'identifier=urn:x|one',
  });
  t.equal(again.status, 200);
  t.equal(await count(base, 'Binary'), 1);
  t.equal((await blobFiles(dataDir)).length, 1);
});
