import { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  S3Client,
  S3ServiceException,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import {
  assertValidBlobKey,
  assertValidPutOptions,
  type BlobContent,
  type BlobStore,
  type CleanupErrorHandler,
  type PutOptions,
  type StoredBlob,
} from './blob-store.js';
import { measure } from './measure.js';

export interface S3BlobStoreOptions {
  bucket: string;
  region: string;
  /** An S3-compatible endpoint (s3rver, MinIO); implies path-style addressing. */
  endpoint?: string;
  forcePathStyle?: boolean;
  /** Every object is written with SSE-KMS under this key. */
  kmsKeyId?: string;
  /** Production sets this: refuse to start rather than fall back to the bucket's default. */
  requireKms?: boolean;
  /** Default: the SDK's provider chain (the ECS task role in production). */
  credentials?: S3ClientConfig['credentials'];
  /** Multipart part size; S3's minimum is 5 MiB. Memory per put ≈ (queueSize + 1) × partSize. */
  partSize?: number;
  /** Parts uploaded at once per put. */
  queueSize?: number;
  onCleanupError?: CleanupErrorHandler;
}

export interface S3BlobStore extends BlobStore {
  /** Exposed so tests (and metrics) can hook the middleware stack. */
  readonly client: S3Client;
}

const MIB = 1024 * 1024;

function isNotFound(error: unknown): boolean {
  return error instanceof S3ServiceException && error.$metadata.httpStatusCode === 404;
}

export function createS3BlobStore(options: S3BlobStoreOptions): S3BlobStore {
  const { bucket, kmsKeyId, onCleanupError } = options;
  if (!bucket) throw new Error('S3 blob store: a bucket is required');
  if (options.requireKms && !kmsKeyId) {
    throw new Error('S3 blob store: KMS_KEY_ID is required (objects must be written with SSE-KMS)');
  }
  const client = new S3Client({
    region: options.region,
    endpoint: options.endpoint,
    forcePathStyle: options.forcePathStyle ?? options.endpoint !== undefined,
    credentials: options.credentials,
  });
  const partSize = options.partSize ?? 8 * MIB;
  const queueSize = options.queueSize ?? 2;
  // Checked here, not by Upload's constructor inside put, after the body is already piped.
  if (!Number.isSafeInteger(partSize) || partSize < 5 * MIB) {
    throw new Error('S3 blob store: partSize must be at least 5 MiB');
  }
  if (!Number.isSafeInteger(queueSize) || queueSize < 1) {
    throw new Error('S3 blob store: queueSize must be at least 1');
  }
  // lib-storage spreads these into every command; the SDK serializes them only for
  // CreateMultipartUpload and PutObject, the ones S3 takes them on.
  const encryption = kmsKeyId
    ? { ServerSideEncryption: 'aws:kms' as const, SSEKMSKeyId: kmsKeyId }
    : {};

  async function put(key: string, body: Readable, putOptions: PutOptions): Promise<StoredBlob> {
    assertValidBlobKey(key);
    assertValidPutOptions(putOptions);
    const measured = measure(body, putOptions.maxBytes);
    const upload = new Upload({
      client,
      partSize,
      queueSize,
      leavePartsOnError: false,
      params: {
        Bucket: bucket,
        Key: key,
        Body: measured.stream,
        ContentType: putOptions.contentType,
        ...encryption,
      },
    });
    // Failing the Body stream, not upload.abort(), is how a put is cancelled: abort() rejects
    // done() at once while parts are still in flight, whereas a failed Body makes lib-storage
    // wait for them and send AbortMultipartUpload before done() settles, so when put rejects
    // nothing is left behind.
    const uploadError = await upload.done().then(
      () => undefined,
      (error: unknown) => error ?? new Error('upload failed'),
    );
    const streamError = measured.failure();
    if (uploadError === undefined && streamError === null) {
      const digest = measured.digest();
      measured.detach();
      return { key, ...digest };
    }
    measured.detach();
    if (uploadError === undefined) {
      // The upload completed but the source failed after its last byte: don't keep bytes the
      // caller was told did not arrive.
      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key })).catch((error) => {
        onCleanupError?.(error, key);
      });
    } else if (streamError !== null && uploadError !== streamError && upload.uploadId) {
      // lib-storage rethrows the stream's error after a successful abort; anything else means
      // the abort failed and parts remain (until the bucket's lifecycle rule removes them).
      onCleanupError?.(uploadError, key);
    }
    throw streamError ?? uploadError;
  }

  async function get(key: string): Promise<BlobContent | undefined> {
    assertValidBlobKey(key);
    try {
      const output = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      if (!(output.Body instanceof Readable)) throw new Error('S3 returned no body stream');
      return {
        body: output.Body,
        size: output.ContentLength ?? 0,
        contentType: output.ContentType ?? 'application/octet-stream',
      };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async function exists(key: string): Promise<boolean> {
    assertValidBlobKey(key);
    try {
      await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    }
  }

  async function remove(key: string): Promise<void> {
    assertValidBlobKey(key);
    // S3 answers 204 for absent keys too: idempotent as it is.
    await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
  }

  /** SigV4 query-string signature: the object is SSE-KMS, which only SigV4 may read. */
  async function signedUrl(key: string, seconds: number, contentType: string): Promise<string> {
    assertValidBlobKey(key);
    const command = new GetObjectCommand({
      Bucket: bucket,
      Key: key,
      ResponseContentType: contentType,
    });
    return getSignedUrl(client, command, { expiresIn: seconds });
  }

  return {
    client,
    put,
    get,
    exists,
    signedUrl,
    delete: remove,
    close: async () => client.destroy(),
  };
}
