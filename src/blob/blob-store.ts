/**
 * Where the bytes of clinical documents live (Binary, DocumentReference attachments), apart
 * from the FHIR resources that point at them. Two implementations: `s3.ts` (S3 with SSE-KMS)
 * and `local.ts` (AES-256-GCM encrypted files under DATA_DIR, for laptops). Both stream: no
 * put or get holds a whole document in memory, so a large scan costs what a small one does.
 */
import type { Readable } from 'node:stream';

export interface PutOptions {
  contentType: string;
  /** The upload fails with BlobTooLargeError as soon as more bytes than this arrive. */
  maxBytes: number;
}

/** What a finished put measured on the way through: the FHIR Attachment's size and hash. */
export interface BlobDigest {
  size: number;
  /** SHA-1 of the bytes, base64: what FHIR R4 Attachment.hash holds. */
  sha1Base64: string;
  /** SHA-256 of the bytes, hex: for our own integrity checks (SHA-1 is the spec's, not ours). */
  sha256Hex: string;
}

export interface StoredBlob extends BlobDigest {
  key: string;
}

export interface BlobContent {
  /**
   * The bytes. The local store verifies each chunk before emitting it: tampered or truncated
   * data makes this stream error with BlobIntegrityError instead of yielding wrong bytes.
   */
  body: Readable;
  size: number;
  contentType: string;
}

export interface BlobStore {
  /**
   * Stores `body` under `key`, replacing what was there. Nothing is left stored when it fails
   * (too large, the source errors or closes early, the backend fails). On failure the caller
   * still owns `body`: it is unpiped, not destroyed, so an HTTP handler can answer 413 on the
   * request's connection (and then close it) instead of finding the socket already gone.
   */
  put(key: string, body: Readable, options: PutOptions): Promise<StoredBlob>;
  /** Undefined when nothing is stored under `key`. */
  get(key: string): Promise<BlobContent | undefined>;
  /** Idempotent: deleting an absent key succeeds. */
  delete(key: string): Promise<void>;
  exists(key: string): Promise<boolean>;
  /**
   * A URL that reads `key` without any other credential for `seconds` (S3 presigned GET, served
   * as `contentType`); absent on stores that can't hand one out (local files).
   */
  signedUrl?(key: string, seconds: number, contentType: string): Promise<string>;
  /** Releases connections at shutdown. */
  close(): Promise<void>;
}

/**
 * Called with a failure to clean up after a failed put (an AbortMultipartUpload refused, a
 * temporary file not removed). The put still rejects with its own error; this is for the log.
 */
export type CleanupErrorHandler = (error: unknown, key: string) => void;

/** The REST layer answers 413. */
export class BlobTooLargeError extends Error {
  readonly maxBytes: number;

  constructor(maxBytes: number) {
    super(`the content is larger than the limit of ${maxBytes} bytes`);
    this.name = 'BlobTooLargeError';
    this.maxBytes = maxBytes;
  }
}

/** A key the server should never have chosen: a bug, not a client error. */
export class InvalidBlobKeyError extends Error {
  constructor(key: string) {
    super(`invalid blob key ${JSON.stringify(key.slice(0, 100))}`);
    this.name = 'InvalidBlobKeyError';
  }
}

/** Stored bytes that fail authentication: tampered with, truncated or under another key. */
export class BlobIntegrityError extends Error {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, options);
    this.name = 'BlobIntegrityError';
  }
}

/**
 * Slash-separated segments of letters, digits, `-`, `_` and `.`, none starting with a dot.
 * Besides ruling out `..` and absolute paths, that leaves names starting with a dot free for the
 * local store's own temporary files, which no key can then collide with.
 */
const KEY = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}(?:\/[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}){0,7}$/;

export function assertValidBlobKey(key: string): void {
  if (typeof key !== 'string' || key.length > 512 || !KEY.test(key)) {
    throw new InvalidBlobKeyError(String(key));
  }
}

export function assertValidPutOptions(options: PutOptions): void {
  if (!Number.isSafeInteger(options.maxBytes) || options.maxBytes < 0) {
    throw new RangeError('maxBytes must be a non-negative integer');
  }
  if (typeof options.contentType !== 'string' || options.contentType.length > 255) {
    throw new RangeError('contentType must be a string of at most 255 characters');
  }
}
