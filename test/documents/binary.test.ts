/**
 * Binary over HTTP against the local (encrypted file) blob store: raw uploads and reads, the
 * size limit while streaming, FHIR JSON Binaries, and what a bad upload leaves behind (nothing).
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import t from 'tap';
import { fhir, logCapture, startServer, tempDataDir, testConfig } from '../helpers.js';
import {
  blobFiles,
  count,
  eventually,
  interruptedUpload,
  MIB,
  rawRequest,
  sha1Base64,
  sha256,
  startDocumentServer,
  SYSTEM,
} from './helpers.js';

const BLOB_KEY = 'http://telefhir.dev/fhir/StructureDefinition/blob-key';

t.test('a 20 MB document: raw upload and download through the API, same SHA-256', async (t) => {
  const { base, dataDir } = await startDocumentServer(t);
  const data = randomBytes(20 * MIB + 17);
  const up = await rawRequest(
    `${base}/Binary`,
    'POST',
    { ...SYSTEM, 'content-type': 'application/pdf' },
    data,
  );
  t.equal(up.status, 201, up.body.toString().slice(0, 200));
  const created = up.json();
  t.equal(created.resourceType, 'Binary');
  t.equal(created.contentType, 'application/pdf');
  t.notOk(created.data, 'the response carries no bytes');
  t.notMatch(JSON.stringify(created), BLOB_KEY, 'the blob key is not shown');
  t.match(up.headers.location, `${base}/Binary/${created.id}/_history/1`);

  const down = await rawRequest(`${base}/Binary/${created.id}`, 'GET', {
    ...SYSTEM,
    accept: '*/*',
  });
  t.equal(down.status, 200);
  t.equal(down.headers['content-type'], 'application/pdf');
  t.equal(Number(down.headers['content-length']), data.length);
  t.equal(sha256(down.body), sha256(data), 'the bytes come back unchanged');
  t.equal((await blobFiles(dataDir)).length, 1, 'one blob stored');
});

t.test('FHIR JSON: a Binary with data in, the data back only when JSON is asked for', async (t) => {
  const { base } = await startDocumentServer(t);
  const data = Buffer.from('%PDF-1.4 a small document');
  const created = await fhir(base, 'POST', 'Binary', {
    resourceType: 'Binary',
    contentType: 'application/pdf',
    data: data.toString('base64'),
  });
  t.equal(created.status, 201, created.text);
  t.notOk(created.body.data);
  const ext = created.body.meta.extension as {
    url: string;
    valueInteger?: number;
    valueBase64Binary?: string;
  }[];
  t.equal(ext.find((e) => e.url.endsWith('binary-size'))?.valueInteger, data.length);
  t.equal(ext.find((e) => e.url.endsWith('binary-hash'))?.valueBase64Binary, sha1Base64(data));

  const json = await fhir(base, 'GET', `Binary/${created.body.id}`);
  t.equal(json.status, 200);
  t.match(json.headers.get('content-type'), /^application\/fhir\+json/);
  t.equal(json.body.data, data.toString('base64'));
  t.notMatch(json.text, BLOB_KEY);

  const raw = await fetch(`${base}/Binary/${created.body.id}`, {
    headers: { ...SYSTEM, accept: 'application/pdf' },
  });
  t.equal(raw.headers.get('content-type'), 'application/pdf');
  t.same(Buffer.from(await raw.arrayBuffer()), data);
  t.match(raw.headers.get('content-security-policy'), /sandbox/, 'served sandboxed');
});

t.test('PUT replaces the bytes under a new key; vread serves each version its own', async (t) => {
  const { base, dataDir } = await startDocumentServer(t);
  const first = await rawRequest(
    `${base}/Binary`,
    'POST',
    { ...SYSTEM, 'content-type': 'text/plain' },
    Buffer.from('one'),
  );
  const id = first.json().id as string;
  const second = await rawRequest(
    `${base}/Binary/${id}`,
    'PUT',
    { ...SYSTEM, 'content-type': 'text/csv' },
    Buffer.from('two'),
  );
  t.equal(second.status, 200, second.body.toString());
  const v1 = await rawRequest(`${base}/Binary/${id}/_history/1`, 'GET', {
    ...SYSTEM,
    accept: '*/*',
  });
  const v2 = await rawRequest(`${base}/Binary/${id}/_history/2`, 'GET', {
    ...SYSTEM,
    accept: '*/*',
  });
  t.equal(v1.body.toString(), 'one');
  t.equal(v1.headers['content-type'], 'text/plain');
  t.equal(v2.body.toString(), 'two');
  t.equal(v2.headers['content-type'], 'text/csv');
  t.equal((await blobFiles(dataDir)).length, 2, "history keeps the old version's blob");

  const history = await fhir(base, 'GET', `Binary/${id}/_history`);
  t.equal(history.status, 200, 'instance history lists the versions');
  t.equal(history.body.entry.length, 2);
  t.notMatch(history.text, BLOB_KEY);
  t.notOk(history.body.entry.some((e: { resource: { data?: string } }) => e.resource.data));

  t.equal((await fhir(base, 'DELETE', `Binary/${id}`)).status, 204);
  t.equal((await fhir(base, 'GET', `Binary/${id}`)).status, 410);
  t.equal(
    (await blobFiles(dataDir)).length,
    2,
    'a delete keeps the blobs until retention purges them',
  );
});

t.test('past the size limit: 413 while streaming, nothing stored', async (t) => {
  const { base, dataDir } = await startDocumentServer(t, { sizeLimit: MIB });
  const up = await rawRequest(
    `${base}/Binary`,
    'POST',
    { ...SYSTEM, 'content-type': 'application/octet-stream' },
    randomBytes(8 * MIB),
  );
  t.equal(up.status, 413);
  t.equal(up.json().resourceType, 'OperationOutcome');
  t.equal(up.json().issue[0].code, 'too-long');
  t.same(await blobFiles(dataDir), [], 'no blob and no temporary file');
  t.equal(await count(base, 'Binary'), 0, 'no Binary');

  const json = await fhir(base, 'POST', 'Binary', {
    resourceType: 'Binary',
    contentType: 'text/plain',
    data: randomBytes(MIB + 1).toString('base64'),
  });
  t.equal(json.status, 413, 'a JSON Binary over the limit too');
  t.same(await blobFiles(dataDir), []);
  const exact = await rawRequest(
    `${base}/Binary`,
    'POST',
    { ...SYSTEM, 'content-type': 'a/b' },
    randomBytes(MIB),
  );
  t.equal(exact.status, 201, 'exactly the limit is fine');
});

t.test('an upload the client abandons mid-body leaves no Binary and no blob', async (t) => {
  const { base, dataDir } = await startDocumentServer(t);
  await interruptedUpload(
    `${base}/Binary`,
    { ...SYSTEM, 'content-type': 'application/pdf' },
    2 * MIB,
  );
  // The server notices the drop on its own time; give it a moment, then nothing must be there.
  await eventually(async () => (await blobFiles(dataDir)).length === 0);
  await new Promise((r) => setTimeout(r, 300));
  t.same(await blobFiles(dataDir), []);
  t.equal(await count(base, 'Binary'), 0);
});

t.test('contentType must be a media type; a bad one is a 4xx and never stored', async (t) => {
  const { base, dataDir } = await startDocumentServer(t);
  for (const contentType of [
    'text/plain\nX-Injected: 1',
    'pdf',
    'text/plain; charset',
    'a/b\u0007',
  ]) {
    const res = await fhir(base, 'POST', 'Binary', {
      resourceType: 'Binary',
      contentType,
      data: 'aGVsbG8=',
    });
    t.ok(res.status >= 400 && res.status < 500, `${JSON.stringify(contentType)}: ${res.status}`);
    t.equal(res.body.resourceType, 'OperationOutcome');
  }
  const raw = await rawRequest(
    `${base}/Binary`,
    'POST',
    { ...SYSTEM, 'content-type': 'not-a-media-type' },
    Buffer.from('x'),
  );
  t.ok([400, 415].includes(raw.status), `a raw upload with a bad Content-Type: ${raw.status}`);
  t.equal(await count(base, 'Binary'), 0);
  t.same(await blobFiles(dataDir), []);
});

t.test('bad base64 data: 422 that neither echoes nor logs the value', async (t) => {
  const logs = logCapture();
  const dataDir = tempDataDir(t);
  const config = await testConfig(t, { dataDir, logLevel: 'info' });
  const { base } = await startServer(t, config, { logStream: logs.stream });
  const secret = 'PATIENT-SECRET-NOTE*not*base64';
  for (const [type, body] of [
    ['Binary', { resourceType: 'Binary', contentType: 'text/plain', data: secret }],
    [
      'DocumentReference',
      {
        resourceType: 'DocumentReference',
        status: 'current',
        subject: { reference: 'Patient/p1' },
        content: [{ attachment: { contentType: 'text/plain', data: secret } }],
      },
    ],
  ] as const) {
    const res = await fhir(base, 'POST', type, body);
    t.equal(res.status, 422, `${type}: ${res.text}`);
    t.notMatch(res.text, 'PATIENT-SECRET', `${type}: not echoed`);
    t.match(res.text, /data/, 'the issue says where');
  }
  t.notMatch(logs.text(), 'PATIENT-SECRET', 'not logged');
  t.same(await blobFiles(dataDir), []);
});

t.test('the local store keeps documents encrypted: no plaintext on disk', async (t) => {
  const { base, dataDir } = await startDocumentServer(t);
  const marker = 'CONFIDENTIAL-DISCHARGE-SUMMARY-0042';
  const data = Buffer.from(`${marker}\n`.repeat(5000));
  const up = await rawRequest(
    `${base}/Binary`,
    'POST',
    { ...SYSTEM, 'content-type': 'text/plain' },
    data,
  );
  t.equal(up.status, 201);
  const files = await blobFiles(dataDir);
  t.equal(files.length, 1);
  const onDisk = await readFile(files[0]!);
  t.ok(onDisk.length >= data.length, 'the file holds the document');
  t.equal(onDisk.indexOf(marker), -1, 'but not in the clear');
  t.equal(onDisk.indexOf('text/plain'), -1, 'nor its content type');
  const down = await rawRequest(`${base}/Binary/${up.json().id}`, 'GET', {
    ...SYSTEM,
    accept: '*/*',
  });
  t.equal(sha256(down.body), sha256(data), 'and it reads back');
});

t.test('a client cannot write the blob key or the owner itself', async (t) => {
  const { base } = await startDocumentServer(t);
  const victim = await rawRequest(
    `${base}/Binary`,
    'POST',
    { ...SYSTEM, 'content-type': 'text/plain' },
    Buffer.from('victim'),
  );
  t.equal(victim.status, 201);
  const forged = await fhir(base, 'POST', 'Binary', {
    resourceType: 'Binary',
    contentType: 'text/plain',
    meta: {
      extension: [
        { url: BLOB_KEY, valueString: 'binary/anything' },
        {
          url: 'http://telefhir.dev/fhir/StructureDefinition/binary-patient',
          valueReference: { reference: 'Patient/x' },
        },
      ],
    },
  });
  t.equal(forged.status, 201, forged.text);
  t.notMatch(forged.text, 'binary/anything');
  t.notMatch(forged.text, 'Patient/x');
  const read = await rawRequest(`${base}/Binary/${forged.body.id}`, 'GET', {
    ...SYSTEM,
    accept: '*/*',
  });
  t.equal(read.body.length, 0, "a Binary without data has no bytes, not someone else's");
});
