import { randomUUID } from 'node:crypto';
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  assertValidBlobKey,
  assertValidPutOptions,
  type BlobContent,
  type BlobStore,
  type CleanupErrorHandler,
  type PutOptions,
  type StoredBlob,
} from './blob-store.js';
import { loadOrCreateBlobKey } from './blob-key.js';
import { measure } from './measure.js';
import {
  plaintextLength,
  readSealedHeader,
  SealingStream,
  UnsealingStream,
} from './sealed-file.js';

export interface LocalBlobStoreOptions {
  /** Files go under `<dataDir>/blobs/`, the master key in `<dataDir>/blob-key`. */
  dataDir: string;
  onCleanupError?: CleanupErrorHandler;
}

/** Partial files older than this are a crashed put's, not one in progress. */
const STALE_PARTIAL_MS = 24 * 60 * 60 * 1000;

function isAbsent(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

async function removeStalePartials(dir: string): Promise<void> {
  const cutoff = Date.now() - STALE_PARTIAL_MS;
  for (const name of await readdir(dir)) {
    const path = join(dir, name);
    const info = await stat(path).catch(() => undefined);
    if (info && info.mtimeMs < cutoff) await rm(path, { force: true });
  }
}

/** Makes a rename durable: without it a crash can undo a put the caller was told succeeded. */
async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r').catch(() => undefined); // not every platform opens dirs
  if (!handle) return;
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Blobs as encrypted files (see sealed-file.ts), for running without AWS: a laptop run stores
 * documents at rest encrypted as production does. Each put writes a temporary file under
 * `blobs/.partial/` and renames it into place when complete, so a failed put leaves nothing and
 * a reader never sees half a file. (Keys can't start with a dot, so `.partial` is never a key.)
 */
export function createLocalBlobStore(options: LocalBlobStoreOptions): BlobStore {
  const dataDir = resolve(options.dataDir);
  const root = join(dataDir, 'blobs');
  const partialDir = join(root, '.partial');
  const { onCleanupError } = options;
  const pathOf = (key: string) => join(root, ...key.split('/'));

  // The master key is read (or made) on first use and then kept: it never changes, so keeping
  // it is no state another replica could disagree with. A failure is not kept: the next call
  // tries again.
  let masterKey: Promise<Buffer> | undefined;
  function ready(): Promise<Buffer> {
    masterKey ??= (async () => {
      await mkdir(partialDir, { recursive: true, mode: 0o700 });
      await removeStalePartials(partialDir);
      return loadOrCreateBlobKey(join(dataDir, 'blob-key'));
    })().catch((error: unknown) => {
      masterKey = undefined;
      throw error;
    });
    return masterKey;
  }

  async function put(key: string, body: Readable, putOptions: PutOptions): Promise<StoredBlob> {
    assertValidBlobKey(key);
    assertValidPutOptions(putOptions);
    const master = await ready();
    const partial = join(partialDir, randomUUID());
    // The file is created before any byte is read, not by a write stream opening it in the
    // background: a put refused on its first chunk could otherwise see its cleanup run before
    // that open, which then left an empty temporary file behind.
    const handle = await open(partial, 'wx', 0o600);
    const measured = measure(body, putOptions.maxBytes);
    try {
      await pipeline(
        measured.stream,
        new SealingStream(master, key, { contentType: putOptions.contentType }),
        handle.createWriteStream({ flush: true }),
      );
      const target = pathOf(key);
      await mkdir(dirname(target), { recursive: true, mode: 0o700 });
      await rename(partial, target);
      await syncDirectory(dirname(target));
      const digest = measured.digest();
      measured.detach();
      return { key, ...digest };
    } catch (error) {
      const cause = measured.failure() ?? error;
      measured.detach();
      // Closing an already closed handle is a no-op; this one may still be open if the write
      // stream was never started.
      await handle.close().catch(() => {});
      await rm(partial, { force: true }).catch((rmError: unknown) =>
        onCleanupError?.(rmError, key),
      );
      throw cause;
    }
  }

  async function get(key: string): Promise<BlobContent | undefined> {
    assertValidBlobKey(key);
    const master = await ready();
    let handle;
    try {
      handle = await open(pathOf(key), 'r');
    } catch (error) {
      if (isAbsent(error)) return undefined;
      throw error;
    }
    try {
      const header = await readSealedHeader(handle, master, key);
      const { size } = await handle.stat();
      const unsealing = new UnsealingStream(header);
      // The read stream closes the handle when it ends or is destroyed; a failure of either
      // stream reaches the caller as an error on `body`.
      const file = handle.createReadStream({ start: header.dataOffset });
      file.on('error', (error) => unsealing.destroy(error));
      unsealing.on('close', () => file.destroy());
      file.pipe(unsealing);
      return {
        body: unsealing,
        size: plaintextLength(size - header.dataOffset),
        contentType: header.meta.contentType,
      };
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  async function exists(key: string): Promise<boolean> {
    assertValidBlobKey(key);
    try {
      return (await stat(pathOf(key))).isFile();
    } catch (error) {
      if (isAbsent(error)) return false;
      throw error;
    }
  }

  async function remove(key: string): Promise<void> {
    assertValidBlobKey(key);
    await rm(pathOf(key), { force: true });
  }

  return { put, get, exists, delete: remove, close: async () => {} };
}
