import { createHash } from 'node:crypto';
import { finished, Transform, type Readable, type TransformCallback } from 'node:stream';
import { BlobTooLargeError, type BlobDigest } from './blob-store.js';

/** Counts and hashes what passes through; fails with BlobTooLargeError past the limit. */
class MeasuringStream extends Transform {
  readonly #maxBytes: number;
  readonly #sha1 = createHash('sha1');
  readonly #sha256 = createHash('sha256');
  #size = 0;
  #digest: BlobDigest | undefined;

  constructor(maxBytes: number) {
    super();
    this.#maxBytes = maxBytes;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
    this.#size += chunk.length;
    // Checked per chunk, before it goes on: the backend never receives a byte past the limit.
    if (this.#size > this.#maxBytes) {
      callback(new BlobTooLargeError(this.#maxBytes));
      return;
    }
    this.#sha1.update(chunk);
    this.#sha256.update(chunk);
    callback(null, chunk);
  }

  digest(): BlobDigest {
    this.#digest ??= {
      size: this.#size,
      sha1Base64: this.#sha1.digest('base64'),
      sha256Hex: this.#sha256.digest('hex'),
    };
    return this.#digest;
  }
}

export interface Measured {
  /**
   * The source's bytes for the backend to consume. It fails with BlobTooLargeError past the
   * limit, and with the source's error when the source fails or closes before its end (a client
   * that disconnects): either way the backend's consumer sees the failure and throws away what
   * it stored so far.
   */
  readonly stream: Readable;
  /** Size and hashes; valid once `stream` has ended. */
  digest(): BlobDigest;
  /** Why `stream` failed, or null. */
  failure(): Error | null;
  /** Stops reading the source and leaves it to the caller, neither drained nor destroyed. */
  detach(): void;
}

export function measure(source: Readable, maxBytes: number): Measured {
  const stream = new MeasuringStream(maxBytes);
  const stopWatching = finished(source, { writable: false }, (error) => {
    if (error) stream.destroy(error);
  });
  source.pipe(stream);
  return {
    stream,
    digest: () => stream.digest(),
    failure: () => stream.errored,
    detach() {
      stopWatching();
      source.unpipe(stream);
      stream.destroy();
    },
  };
}
