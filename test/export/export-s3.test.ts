/**
 * $export with S3 configured: the output files are S3 objects (SSE-KMS), and the status hands
 * out short-lived presigned URLs that s3rver checks (SigV4 in the query string), so
 * `requiresAccessToken` is false.
 */
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
// The server's client takes credentials from the default chain, as in production.
process.env.AWS_ACCESS_KEY_ID = 'S3RVER';
process.env.AWS_SECRET_ACCESS_KEY = 'S3RVER';

import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { HttpRequest } from '@smithy/protocol-http';
import type { S3BlobStore } from '../../src/blob/s3.js';
import t from 'tap';
import { startS3rver } from '../blob/s3rver.js';
import { fhir } from '../helpers.js';
import {
  OTHER_SERVICE,
  SERVICE,
  drain,
  exportServer,
  kick,
  type Manifest,
} from './export-helpers.js';

const KMS_KEY = 'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const s3 = await startS3rver(t);
const client = new S3Client({
  region: s3.region,
  endpoint: s3.endpoint,
  forcePathStyle: true,
  credentials: s3.credentials,
});
t.teardown(() => client.destroy());

t.test('output files in S3 under SSE-KMS, listed as presigned URLs', async (t) => {
  const running = await exportServer(
    t,
    { fileResources: 2 },
    {},
    {
      blobs: {
        bucket: s3.bucket,
        endpoint: s3.endpoint,
        kmsKeyId: KMS_KEY,
        region: s3.region,
        sizeLimit: 1024 * 1024,
      },
    },
  );
  const { base } = running;
  // What the server's own S3 client sends when it writes an output file.
  const writes: Record<string, string>[] = [];
  (running.app.blobs as S3BlobStore).client.middlewareStack.add(
    (next, context) => async (args) => {
      if (HttpRequest.isInstance(args.request) && context.commandName === 'PutObjectCommand') {
        writes.push({ ...args.request.headers });
      }
      return next(args);
    },
    { step: 'finalizeRequest', name: 'recordExportWrites' },
  );
  const { status } = await kick(base, '$export?_type=Patient,Observation', SERVICE);
  await drain(running);
  t.equal((await fhir(base, 'GET', status, undefined, OTHER_SERVICE)).status, 404, 'not theirs');
  const done = await fhir(base, 'GET', status, undefined, SERVICE);
  t.equal(done.status, 200);
  const manifest = done.body as Manifest;
  t.equal(manifest.requiresAccessToken, false);
  t.ok(manifest.output.length >= 2);
  const lines: string[] = [];
  for (const file of manifest.output) {
    t.ok(file.url.startsWith(`${s3.endpoint}/${s3.bucket}/export/`), 'an S3 URL');
    t.match(file.url, /X-Amz-Expires=300/, 'short-lived');
    const res = await fetch(file.url);
    t.equal(res.status, 200, 'readable without a token');
    t.equal(res.headers.get('content-type'), 'application/fhir+ndjson');
    const text = await res.text();
    lines.push(...text.split('\n').filter(Boolean));
  }
  t.equal(writes.length, manifest.output.length, 'one PutObject per file');
  for (const headers of writes) {
    t.equal(headers['x-amz-server-side-encryption'], 'aws:kms', 'SSE-KMS');
    t.equal(headers['x-amz-server-side-encryption-aws-kms-key-id'], KMS_KEY);
  }
  t.equal(lines.length, 5, 'p1, p2, o1, o2, o3');
  // s3rver serves presigned GETs without checking their signature, so only their form is
  // checked here: SigV4 in the query string, under the server's credentials.
  for (const file of manifest.output) {
    const query = new URL(file.url).searchParams;
    t.equal(query.get('X-Amz-Algorithm'), 'AWS4-HMAC-SHA256');
    t.match(query.get('X-Amz-Credential'), /^S3RVER\/\d{8}\/us-east-1\/s3\/aws4_request$/);
    t.match(query.get('X-Amz-Signature'), /^[0-9a-f]{64}$/);
  }

  // Retention removes the objects too.
  await running.app.exportWorker.jobs.db.query(
    `UPDATE export_job SET expires_at = now() - interval '1 second'`,
  );
  const { sweep } = await import('../../src/export/worker.js');
  await sweep(running.app.exportWorker);
  const left = await client.send(
    new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: 'export/' }),
  );
  t.same(left.Contents ?? [], [], 'expired: the objects are deleted');
});
