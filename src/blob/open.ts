import type { Config } from '../config.js';
import type { BlobStore } from './blob-store.js';
import { createLocalBlobStore } from './local.js';

/** Where a failed cleanup is reported: a pino logger fits. Never given the bytes, only the key. */
export interface BlobLog {
  warn(details: object, message: string): void;
}

/**
 * The configured BlobStore: S3 (SSE-KMS under KMS_KEY_ID) when S3_BUCKET is set, else
 * encrypted files under DATA_DIR. The server, the retention purge and $expunge all open it
 * here, so they agree on where the bytes are. The S3 SDK is loaded only when S3 is configured.
 */
export async function openBlobStore(
  config: Pick<Config, 'blobs' | 'dataDir' | 'auth'>,
  log?: BlobLog,
): Promise<BlobStore> {
  const onCleanupError = (error: unknown, key: string) =>
    log?.warn({ err: error, blobKey: key }, 'a failed blob upload could not be cleaned up');
  const { bucket, endpoint, kmsKeyId, region } = config.blobs;
  if (bucket) {
    const { createS3BlobStore } = await import('./s3.js');
    return createS3BlobStore({
      bucket,
      region,
      endpoint,
      kmsKeyId,
      requireKms: config.auth.production,
      onCleanupError,
    });
  }
  return createLocalBlobStore({ dataDir: config.dataDir, onCleanupError });
}
