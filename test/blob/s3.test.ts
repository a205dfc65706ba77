process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

import { randomBytes } from 'node:crypto';
import t, { type Test } from 'tap';
import {
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  type S3Client,
} from '@aws-sdk/client-s3';
import { HttpRequest } from '@smithy/protocol-http';
import { BlobTooLargeError, InvalidBlobKeyError } from '../../src/blob/blob-store.js';
import { createS3BlobStore, type S3BlobStoreOptions } from '../../src/blob/s3.js';
import { startS3rver } from './s3rver.js';
import {
  droppedRequest,
  endlessStream,
  failingStream,
  readAll,
  sha1Base64,
  sha256Hex,
  streamOf,
} from './sources.js';

const MIB = 1024 * 1024;
const KMS_KEY = 'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';

const s3 = await startS3rver(t);

interface SentRequest {
  command: string;
  headers: Record<string, string>;
}

/** Every request the client puts on the wire, as signed. */
function recordRequests(client: S3Client): SentRequest[] {
  const sent: SentRequest[] = [];
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (HttpRequest.isInstance(args.request)) {
        sent.push({ command: context.commandName ?? '', headers: { ...args.request.headers } });
      }
      return next(args);
    },
    { step: 'finalizeRequest', name: 'recordRequests' },
  );
  return sent;
}

function storeFor(t: Test, options: Partial<S3BlobStoreOptions> = {}) {
  const store = createS3BlobStore({
    bucket: s3.bucket,
    region: s3.region,
    endpoint: s3.endpoint,
    credentials: s3.credentials,
    kmsKeyId: KMS_KEY,
    ...options,
  });
  t.teardown(() => store.close());
  return { store, sent: recordRequests(store.client) };
}

/** The object and unfinished multipart uploads at `key`, asked of s3rver itself. */
async function storedAt(client: S3Client, key: string) {
  const objects = await client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: key }));
  const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: s3.bucket }));
  return {
    objects: (objects.Contents ?? []).map((object) => object.Key).filter((k) => k === key),
    uploads: (uploads.Uploads ?? []).map((upload) => upload.Key).filter((k) => k === key),
  };
}

const count = (sent: SentRequest[], command: string) =>
  sent.filter((request) => request.command === command).length;

t.test('a 20 MB document streams in as a multipart upload and back out unchanged', async (t) => {
  const { store, sent } = storeFor(t);
  const data = randomBytes(20 * MIB);
  const stored = await store.put('binary/round-trip', streamOf(data), {
    contentType: 'application/pdf',
    maxBytes: 32 * MIB,
  });
  t.same(stored, {
    key: 'binary/round-trip',
    size: data.length,
    sha1Base64: sha1Base64(data),
    sha256Hex: sha256Hex(data),
  });
  t.equal(count(sent, 'CreateMultipartUploadCommand'), 1);
  t.equal(count(sent, 'UploadPartCommand'), 3, '8 + 8 + 4 MiB');
  t.equal(count(sent, 'CompleteMultipartUploadCommand'), 1);

  const got = await store.get('binary/round-trip');
  if (!got) throw new Error('stored blob not found');
  t.equal(got.contentType, 'application/pdf');
  t.equal(got.size, data.length);
  t.equal(sha256Hex(await readAll(got.body)), sha256Hex(data));
  t.equal(await store.exists('binary/round-trip'), true);
});

t.test('every write asks for SSE-KMS under the configured key', async (t) => {
  const { store, sent } = storeFor(t);
  await store.put('binary/small', streamOf(Buffer.from('hello')), {
    contentType: 'text/plain',
    maxBytes: 1000,
  });
  await store.put('binary/large', streamOf(randomBytes(9 * MIB)), {
    contentType: 'application/octet-stream',
    maxBytes: 10 * MIB,
  });
  const writes = sent.filter((request) =>
    ['PutObjectCommand', 'CreateMultipartUploadCommand'].includes(request.command),
  );
  t.same(
    writes.map((request) => request.command),
    ['PutObjectCommand', 'CreateMultipartUploadCommand'],
  );
  for (const { headers } of writes) {
    t.equal(headers['x-amz-server-side-encryption'], 'aws:kms');
    t.equal(headers['x-amz-server-side-encryption-aws-kms-key-id'], KMS_KEY);
  }
  // S3 rejects SSE-KMS headers on UploadPart: the upload's encryption is set at its creation.
  const parts = sent.filter((request) => request.command === 'UploadPartCommand');
  t.equal(parts.length, 2);
  t.ok(parts.every((request) => !('x-amz-server-side-encryption' in request.headers)));
});

t.test('without a KMS key: refused when required, the bucket default otherwise', async (t) => {
  t.throws(
    () => createS3BlobStore({ bucket: s3.bucket, region: s3.region, requireKms: true }),
    /KMS_KEY_ID is required/,
  );
  const { store, sent } = storeFor(t, { kmsKeyId: undefined });
  await store.put('binary/default-encryption', streamOf(Buffer.from('x')), {
    contentType: 'text/plain',
    maxBytes: 10,
  });
  const [put] = sent.filter((request) => request.command === 'PutObjectCommand');
  t.ok(put && !('x-amz-server-side-encryption' in put.headers));
});

t.test('get and exists of an absent key; delete is idempotent', async (t) => {
  const { store } = storeFor(t);
  t.equal(await store.get('binary/never-stored'), undefined);
  t.equal(await store.exists('binary/never-stored'), false);
  await store.put('binary/to-delete', streamOf(Buffer.from('bye')), {
    contentType: 'text/plain',
    maxBytes: 10,
  });
  await store.delete('binary/to-delete');
  t.equal(await store.get('binary/to-delete'), undefined);
  await store.delete('binary/to-delete');
  t.same(await storedAt(store.client, 'binary/to-delete'), { objects: [], uploads: [] });
});

t.test('over the limit: fails while streaming and leaves no object or upload', async (t) => {
  const cleanupErrors: unknown[] = [];
  const { store, sent } = storeFor(t, { onCleanupError: (error) => cleanupErrors.push(error) });
  const source = endlessStream();
  await t.rejects(
    store.put('binary/too-large', source.stream, {
      contentType: 'application/pdf',
      maxBytes: 10 * MIB,
    }),
    BlobTooLargeError,
  );
  t.ok(source.pulled() < 11 * MIB, `stopped reading after ${source.pulled()} bytes`);
  t.notOk(source.stream.destroyed, 'the caller still owns the source (to answer 413 on it)');
  t.equal(count(sent, 'UploadPartCommand'), 1, 'the first 8 MiB part went up');
  t.equal(count(sent, 'AbortMultipartUploadCommand'), 1);
  t.equal(count(sent, 'CompleteMultipartUploadCommand'), 0);
  t.same(await storedAt(store.client, 'binary/too-large'), { objects: [], uploads: [] });
  t.same(cleanupErrors, [], 'the abort succeeded');
});

t.test('an abort S3 refuses: the put still fails as too large and reports it', async (t) => {
  const cleanupErrors: unknown[] = [];
  const { store } = storeFor(t, { onCleanupError: (error) => cleanupErrors.push(error) });
  let refused = false;
  store.client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === 'AbortMultipartUploadCommand' && !refused) {
        refused = true;
        throw new Error('AccessDenied');
      }
      return next(args);
    },
    { step: 'initialize', name: 'refuseOneAbort' },
  );
  await t.rejects(
    store.put('binary/abort-refused', endlessStream().stream, {
      contentType: 'application/pdf',
      maxBytes: 9 * MIB,
    }),
    BlobTooLargeError,
  );
  t.match(cleanupErrors, [{ message: 'AccessDenied' }]);
  const { uploads } = await storedAt(store.client, 'binary/abort-refused');
  t.same(uploads, ['binary/abort-refused'], 'left for the bucket lifecycle rule');
});

t.test('over the limit within one part: nothing is sent at all', async (t) => {
  const { store, sent } = storeFor(t);
  const source = endlessStream();
  await t.rejects(
    store.put('binary/too-large-small', source.stream, {
      contentType: 'text/plain',
      maxBytes: 100,
    }),
    BlobTooLargeError,
  );
  t.same(sent, []);
});

t.test('a source that fails midway: the put rejects and leaves nothing', async (t) => {
  const { store, sent } = storeFor(t);
  const data = randomBytes(12 * MIB);
  const failure = new Error('client went away');
  await t.rejects(
    store.put('binary/interrupted', failingStream(data, data.length, failure), {
      contentType: 'application/pdf',
      maxBytes: 32 * MIB,
    }),
    failure,
  );
  t.equal(count(sent, 'AbortMultipartUploadCommand'), 1);
  t.same(await storedAt(store.client, 'binary/interrupted'), { objects: [], uploads: [] });
});

t.test('a source that closes early without an error still fails the put', async (t) => {
  const { store } = storeFor(t);
  const data = randomBytes(MIB);
  await t.rejects(
    store.put('binary/cut-short', failingStream(data, MIB / 2), {
      contentType: 'application/pdf',
      maxBytes: 32 * MIB,
    }),
    { code: 'ERR_STREAM_PREMATURE_CLOSE' },
  );
  t.same(await storedAt(store.client, 'binary/cut-short'), { objects: [], uploads: [] });
});

t.test('a client that drops the connection mid-upload: rejected, nothing left', async (t) => {
  const { store, sent } = storeFor(t);
  const outcome = await droppedRequest(
    (body) => store.put('binary/dropped', body, { contentType: 'a/b', maxBytes: 32 * MIB }),
    10 * MIB,
  );
  t.type(outcome, Error);
  t.equal(count(sent, 'AbortMultipartUploadCommand'), 1, 'a multipart upload had begun');
  t.same(await storedAt(store.client, 'binary/dropped'), { objects: [], uploads: [] });
});

t.test('keys that could escape their prefix are refused', async (t) => {
  const { store, sent } = storeFor(t);
  for (const key of ['../etc/passwd', '/binary/x', 'binary/../x', 'binary//x', '']) {
    await t.rejects(store.get(key), InvalidBlobKeyError, key);
    await t.rejects(
      store.put(key, streamOf(Buffer.from('x')), { contentType: 'text/plain', maxBytes: 10 }),
      InvalidBlobKeyError,
      key,
    );
  }
  t.same(sent, []);
});
