/**
 * Documents against a real S3 API: s3rver on loopback, the server's own S3 client pointed at it
 * (path-style), objects written with SSE-KMS, large ones as multipart uploads.
 */
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
// The server's client takes credentials from the default chain, as in production.
process.env.AWS_ACCESS_KEY_ID = 'S3RVER';
process.env.AWS_SECRET_ACCESS_KEY = 'S3RVER';

import { randomBytes } from 'node:crypto';
import {
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  HeadObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import t from 'tap';
import { fhir } from '../helpers.js';
import { startS3rver } from '../blob/s3rver.js';
import { MIB, rawRequest, sha1Base64, sha256, startDocumentServer, SYSTEM } from './helpers.js';

const KMS_KEY = 'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const s3 = await startS3rver(t);
const client = new S3Client({
  region: s3.region,
  endpoint: s3.endpoint,
  forcePathStyle: true,
  credentials: s3.credentials,
});
t.teardown(() => client.destroy());

async function bucketContents() {
  const objects = await client.send(new ListObjectsV2Command({ Bucket: s3.bucket }));
  const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: s3.bucket }));
  return {
    objects: (objects.Contents ?? []).map((o) => o.Key!),
    uploads: (uploads.Uploads ?? []).map((u) => u.Key!),
  };
}

async function emptyBucket() {
  const { objects } = await bucketContents();
  const { DeleteObjectCommand } = await import('@aws-sdk/client-s3');
  for (const key of objects)
    await client.send(new DeleteObjectCommand({ Bucket: s3.bucket, Key: key }));
}

const s3Settings = (sizeLimit = 100 * MIB) => ({
  bucket: s3.bucket,
  endpoint: s3.endpoint,
  kmsKeyId: KMS_KEY,
  region: s3.region,
  sizeLimit,
});

t.beforeEach(emptyBucket);

t.test('a 20 MB document through the API into S3 and back: same SHA-256', async (t) => {
  const { base, app } = await startDocumentServer(t, s3Settings());
  t.equal(app.config.blobs.bucket, s3.bucket);
  const data = randomBytes(20 * MIB + 5);
  const up = await rawRequest(
    `${base}/Binary`,
    'POST',
    { ...SYSTEM, 'content-type': 'image/tiff' },
    data,
  );
  t.equal(up.status, 201, up.body.toString().slice(0, 300));
  const { objects, uploads } = await bucketContents();
  t.equal(objects.length, 1, 'one object in the bucket');
  t.same(uploads, [], 'no unfinished multipart upload');
  const head = await client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: objects[0] }));
  t.equal(head.ContentLength, data.length);
  t.equal(head.ContentType, 'image/tiff');

  const down = await rawRequest(`${base}/Binary/${up.json().id}`, 'GET', {
    ...SYSTEM,
    accept: 'image/tiff',
  });
  t.equal(down.status, 200);
  t.equal(down.headers['content-type'], 'image/tiff');
  t.equal(sha256(down.body), sha256(data));
});

t.test(
  'a DocumentReference with inline data: the bytes land in S3, not the database',
  async (t) => {
    const { base } = await startDocumentServer(t, s3Settings());
    const patient = await fhir(base, 'POST', 'Patient', { resourceType: 'Patient' });
    const data = randomBytes(300 * 1024);
    const doc = await fhir(base, 'POST', 'DocumentReference', {
      resourceType: 'DocumentReference',
      status: 'current',
      subject: { reference: `Patient/${patient.body.id}` },
      content: [{ attachment: { contentType: 'application/pdf', data: data.toString('base64') } }],
    });
    t.equal(doc.status, 201, doc.text.slice(0, 300));
    const attachment = doc.body.content[0].attachment;
    t.notOk(attachment.data);
    t.equal(attachment.size, data.length);
    t.equal(attachment.hash, sha1Base64(data));
    t.equal((await bucketContents()).objects.length, 1);
    const down = await rawRequest(`${base}/${attachment.url}`, 'GET', { ...SYSTEM, accept: '*/*' });
    t.equal(sha256(down.body), sha256(data));
  },
);

t.test('past the limit: 413 while streaming, no object and no multipart upload left', async (t) => {
  const { base } = await startDocumentServer(t, s3Settings(6 * MIB));
  const up = await rawRequest(
    `${base}/Binary`,
    'POST',
    { ...SYSTEM, 'content-type': 'application/octet-stream' },
    randomBytes(24 * MIB),
  );
  t.equal(up.status, 413);
  t.equal(up.json().issue[0].code, 'too-long');
  t.same(await bucketContents(), { objects: [], uploads: [] });
  t.equal((await fhir(base, 'GET', 'Binary?_summary=count')).body.total, 0);
});
