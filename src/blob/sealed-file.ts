/**
 * The local store's file format: AES-256-GCM in chunks, so files of any size stream through in
 * constant memory and every chunk is verified before any of its bytes is released.
 *
 *   "TFB1" | salt (16) | meta length (u16 BE) | sealed meta | sealed chunk 1 | … | sealed chunk n
 *
 * - Each file has its own key: HKDF-SHA256(master key, salt, "telefhir-blob-v1:" + blob key).
 *   A fresh key per file makes counter nonces safe however many files the master key protects,
 *   and deriving from the blob key means a file copied under another key's name fails to
 *   decrypt instead of serving one patient's document as another's.
 * - Record i (the meta is 0, chunks 1…n) is sealed with nonce i (96-bit big-endian) and a
 *   one-byte AAD naming its role: meta, chunk or final chunk. A file cut at a chunk boundary
 *   then ends in a chunk sealed as non-final and fails, as does one with chunks appended.
 * - A chunk is 64 KiB of plaintext (the final one 0–64 KiB) followed by its 16-byte tag.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { Transform, type TransformCallback } from 'node:stream';
import { BlobIntegrityError } from './blob-store.js';

const MAGIC = Buffer.from('TFB1');
const SALT_BYTES = 16;
const TAG_BYTES = 16;
const CHUNK_BYTES = 64 * 1024;
const SEALED_CHUNK_BYTES = CHUNK_BYTES + TAG_BYTES;
const PREAMBLE_BYTES = MAGIC.length + SALT_BYTES + 2;

const META = 0;
const CHUNK = 1;
const FINAL_CHUNK = 2;

/** What the store keeps about a blob besides its bytes. */
export interface BlobMeta {
  contentType: string;
}

export interface SealedHeader {
  meta: BlobMeta;
  fileKey: Buffer;
  /** Where the chunks start. */
  dataOffset: number;
}

function deriveFileKey(masterKey: Buffer, salt: Buffer, blobKey: string): Buffer {
  return Buffer.from(hkdfSync('sha256', masterKey, salt, `telefhir-blob-v1:${blobKey}`, 32));
}

function nonce(index: number): Buffer {
  const bytes = Buffer.alloc(12);
  bytes.writeUIntBE(index, 6, 6);
  return bytes;
}

function seal(fileKey: Buffer, index: number, role: number, plaintext: Buffer): Buffer {
  const cipher = createCipheriv('aes-256-gcm', fileKey, nonce(index));
  cipher.setAAD(Buffer.of(role));
  return Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
}

function unseal(fileKey: Buffer, index: number, role: number, sealed: Buffer): Buffer {
  if (sealed.length < TAG_BYTES) throw new BlobIntegrityError('blob file is truncated');
  const decipher = createDecipheriv('aes-256-gcm', fileKey, nonce(index), {
    authTagLength: TAG_BYTES,
  });
  decipher.setAAD(Buffer.of(role));
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
  try {
    return Buffer.concat([
      decipher.update(sealed.subarray(0, sealed.length - TAG_BYTES)),
      decipher.final(),
    ]);
  } catch (cause) {
    throw new BlobIntegrityError(`blob file failed authentication at record ${index}`, { cause });
  }
}

/** Encrypts what is written to it into the format above, header first. */
export class SealingStream extends Transform {
  readonly #fileKey: Buffer;
  #index = 1;
  #pending: Buffer = Buffer.alloc(0);

  constructor(masterKey: Buffer, blobKey: string, meta: BlobMeta) {
    super();
    const salt = randomBytes(SALT_BYTES);
    this.#fileKey = deriveFileKey(masterKey, salt, blobKey);
    const sealedMeta = seal(this.#fileKey, 0, META, Buffer.from(JSON.stringify(meta)));
    const length = Buffer.alloc(2);
    length.writeUInt16BE(sealedMeta.length);
    this.push(Buffer.concat([MAGIC, salt, length, sealedMeta]));
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
    this.#pending = this.#pending.length ? Buffer.concat([this.#pending, chunk]) : chunk;
    // A chunk goes out only once more bytes follow it, because the last must be sealed final.
    while (this.#pending.length > CHUNK_BYTES) {
      this.push(seal(this.#fileKey, this.#index++, CHUNK, this.#pending.subarray(0, CHUNK_BYTES)));
      this.#pending = this.#pending.subarray(CHUNK_BYTES);
    }
    callback();
  }

  override _flush(callback: TransformCallback) {
    callback(null, seal(this.#fileKey, this.#index, FINAL_CHUNK, this.#pending));
  }
}

/** Decrypts the chunks (from dataOffset on), each verified before its bytes go out. */
export class UnsealingStream extends Transform {
  readonly #fileKey: Buffer;
  #index = 1;
  #pending: Buffer = Buffer.alloc(0);

  constructor(header: SealedHeader) {
    super();
    this.#fileKey = header.fileKey;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
    this.#pending = this.#pending.length ? Buffer.concat([this.#pending, chunk]) : chunk;
    try {
      // Like sealing: a chunk with bytes after it is not the last, so it must not be final.
      while (this.#pending.length > SEALED_CHUNK_BYTES) {
        const sealed = this.#pending.subarray(0, SEALED_CHUNK_BYTES);
        this.push(unseal(this.#fileKey, this.#index++, CHUNK, sealed));
        this.#pending = this.#pending.subarray(SEALED_CHUNK_BYTES);
      }
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }

  override _flush(callback: TransformCallback) {
    try {
      callback(null, unseal(this.#fileKey, this.#index, FINAL_CHUNK, this.#pending));
    } catch (error) {
      callback(error as Error);
    }
  }
}

async function readExactly(handle: FileHandle, length: number, position: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  const { bytesRead } = await handle.read(buffer, 0, length, position);
  if (bytesRead < length) throw new BlobIntegrityError('blob file is truncated');
  return buffer;
}

/** Reads and verifies the header: the content type, and the key the chunks need. */
export async function readSealedHeader(
  handle: FileHandle,
  masterKey: Buffer,
  blobKey: string,
): Promise<SealedHeader> {
  const preamble = await readExactly(handle, PREAMBLE_BYTES, 0);
  if (!preamble.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw new BlobIntegrityError('not a telefhir blob file');
  }
  const salt = preamble.subarray(MAGIC.length, MAGIC.length + SALT_BYTES);
  const metaLength = preamble.readUInt16BE(MAGIC.length + SALT_BYTES);
  const fileKey = deriveFileKey(masterKey, salt, blobKey);
  const sealedMeta = await readExactly(handle, metaLength, PREAMBLE_BYTES);
  const meta = JSON.parse(unseal(fileKey, 0, META, sealedMeta).toString('utf8')) as BlobMeta;
  return { meta, fileKey, dataOffset: PREAMBLE_BYTES + metaLength };
}

/** The plaintext size of `sealedLength` bytes of chunks (there is always a final one). */
export function plaintextLength(sealedLength: number): number {
  const chunks = Math.max(1, Math.ceil(sealedLength / SEALED_CHUNK_BYTES));
  return Math.max(0, sealedLength - chunks * TAG_BYTES);
}
