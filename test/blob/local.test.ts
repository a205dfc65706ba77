import { randomBytes } from 'node:crypto';
import { chmod, copyFile, readdir, readFile, stat, truncate, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import t, { type Test } from 'tap';
import {
  BlobIntegrityError,
  BlobTooLargeError,
  InvalidBlobKeyError,
} from '../../src/blob/blob-store.js';
import { loadOrCreateBlobKey } from '../../src/blob/blob-key.js';
import { createLocalBlobStore } from '../../src/blob/local.js';
import { tempDataDir } from '../helpers.js';
import {
  droppedRequest,
  endlessStream,
  failingStream,
  readAll,
  sha1Base64,
  sha256Hex,
  streamOf,
} from './sources.js';

const KIB = 1024;
const MIB = 1024 * KIB;
/** The file format's chunk: 64 KiB of plaintext and a 16-byte GCM tag. */
const SEALED_CHUNK = 64 * KIB + 16;

function storeFor(t: Test, dataDir = tempDataDir(t)) {
  return { store: createLocalBlobStore({ dataDir }), dataDir };
}

/** Every file under the blob directory, temporary ones included. */
async function filesUnder(dataDir: string): Promise<string[]> {
  const entries = await readdir(join(dataDir, 'blobs'), { recursive: true, withFileTypes: true });
  return entries.filter((entry) => entry.isFile()).map((entry) => entry.name);
}

/** A document whose every 64 KiB carries a marker we can look for on disk. */
function markedDocument(size: number): Buffer {
  const data = randomBytes(size);
  for (let offset = 0; offset + 64 < size; offset += 64 * KIB) {
    data.write('PATIENT-MRN-0042-CONFIDENTIAL', offset);
  }
  return data;
}

t.test('a 20 MB document streams in and back out unchanged', async (t) => {
  const { store } = storeFor(t);
  const data = randomBytes(20 * MIB + 123);
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
  const got = await store.get('binary/round-trip');
  if (!got) throw new Error('stored blob not found');
  t.equal(got.contentType, 'application/pdf');
  t.equal(got.size, data.length);
  t.equal(sha256Hex(await readAll(got.body)), sha256Hex(data));
  t.equal(await store.exists('binary/round-trip'), true);
});

t.test('sizes at chunk boundaries, and the empty document', async (t) => {
  const { store } = storeFor(t);
  for (const size of [0, 1, 64 * KIB - 1, 64 * KIB, 64 * KIB + 1, 128 * KIB]) {
    const data = randomBytes(size);
    await store.put('binary/sized', streamOf(data), { contentType: 'text/plain', maxBytes: size });
    const got = await store.get('binary/sized');
    t.equal(got?.size, size, `size ${size}`);
    t.ok(got && (await readAll(got.body)).equals(data), `bytes of ${size}`);
  }
});

t.test('what is on disk is neither the document nor its content type', async (t) => {
  const { store, dataDir } = storeFor(t);
  const data = markedDocument(MIB);
  await store.put('binary/secret', streamOf(data), {
    contentType: 'application/x-telefhir-marker',
    maxBytes: MIB,
  });
  const onDisk = await readFile(join(dataDir, 'blobs', 'binary', 'secret'));
  t.notOk(onDisk.includes('PATIENT-MRN-0042'), 'no plaintext marker');
  t.notOk(onDisk.includes('x-telefhir-marker'), 'no plaintext content type');
  t.notOk(onDisk.includes(data.subarray(1000, 1100)), 'no run of the document');
  t.equal((await stat(join(dataDir, 'blobs', 'binary', 'secret'))).mode & 0o777, 0o600);
});

t.test('a changed byte fails the read instead of yielding wrong bytes', async (t) => {
  const { store, dataDir } = storeFor(t);
  const data = randomBytes(MIB);
  await store.put('binary/tampered', streamOf(data), { contentType: 'text/plain', maxBytes: MIB });
  const path = join(dataDir, 'blobs', 'binary', 'tampered');
  const file = await readFile(path);
  const flipped = file.length - 5 * SEALED_CHUNK; // inside the fifth chunk from the end
  file[flipped] = (file[flipped] ?? 0) ^ 0x01;
  await writeFile(path, file);

  const got = await store.get('binary/tampered');
  if (!got) throw new Error('stored blob not found');
  const received: Buffer[] = [];
  await t.rejects(readAll(got.body, received), BlobIntegrityError);
  const prefix = Buffer.concat(received);
  t.ok(prefix.length < data.length - 4 * 64 * KIB, `stopped after ${prefix.length} bytes`);
  t.ok(prefix.equals(data.subarray(0, prefix.length)), 'every byte emitted was right');
});

t.test('a truncated file fails the read, at a chunk boundary or not', async (t) => {
  const { store, dataDir } = storeFor(t);
  const data = randomBytes(4 * 64 * KIB); // exactly four chunks
  const path = join(dataDir, 'blobs', 'binary', 'truncated');
  for (const cut of [SEALED_CHUNK, 1000, 1]) {
    await store.put('binary/truncated', streamOf(data), { contentType: 'a/b', maxBytes: MIB });
    const { size } = await stat(path);
    await truncate(path, size - cut);
    const got = await store.get('binary/truncated');
    if (!got) throw new Error('stored blob not found');
    await t.rejects(readAll(got.body), BlobIntegrityError, `${cut} bytes cut`);
  }
});

t.test('a file copied under another key does not decrypt', async (t) => {
  const { store, dataDir } = storeFor(t);
  await store.put('binary/alice', streamOf(Buffer.from('alice')), {
    contentType: 'a/b',
    maxBytes: 9,
  });
  await store.put('binary/bob', streamOf(Buffer.from('bob')), { contentType: 'a/b', maxBytes: 9 });
  const dir = join(dataDir, 'blobs', 'binary');
  await copyFile(join(dir, 'alice'), join(dir, 'bob'));
  await t.rejects(store.get('binary/bob'), BlobIntegrityError);
});

t.test('over the limit: fails while streaming and leaves no file', async (t) => {
  const { store, dataDir } = storeFor(t);
  const source = endlessStream();
  await t.rejects(
    store.put('binary/too-large', source.stream, { contentType: 'a/b', maxBytes: MIB }),
    BlobTooLargeError,
  );
  t.ok(source.pulled() < 2 * MIB, `stopped reading after ${source.pulled()} bytes`);
  t.notOk(source.stream.destroyed, 'the caller still owns the source (to answer 413 on it)');
  t.same(await filesUnder(dataDir), []);
  t.equal(await store.exists('binary/too-large'), false);
});

t.test('a source that fails or closes early: the put rejects and leaves no file', async (t) => {
  const { store, dataDir } = storeFor(t);
  const data = randomBytes(MIB);
  const failure = new Error('client went away');
  await t.rejects(
    store.put('binary/interrupted', failingStream(data, MIB / 2, failure), {
      contentType: 'a/b',
      maxBytes: MIB,
    }),
    failure,
  );
  await t.rejects(
    store.put('binary/interrupted', failingStream(data, MIB / 2), {
      contentType: 'a/b',
      maxBytes: MIB,
    }),
    { code: 'ERR_STREAM_PREMATURE_CLOSE' },
  );
  t.same(await filesUnder(dataDir), []);
});

t.test('a client that drops the connection mid-upload: rejected, no file left', async (t) => {
  const { store, dataDir } = storeFor(t);
  const outcome = await droppedRequest(
    (body) => store.put('binary/dropped', body, { contentType: 'a/b', maxBytes: 32 * MIB }),
    2 * MIB,
  );
  t.type(outcome, Error);
  t.same(await filesUnder(dataDir), []);
});

t.test('a put refused on its first chunk leaves no temporary file, even later', async (t) => {
  // The race: a pipeline may report a failure before its write stream has opened the file,
  // and the cleanup then ran before the open, which created the file afterwards. Here the
  // pipeline fails at once, as early as it ever can; nothing may appear under blobs/ later.
  const { createLocalBlobStore: withEarlyFailure } = await t.mockImport<
    typeof import('../../src/blob/local.js')
  >('../../src/blob/local.js', {
    'node:stream/promises': {
      pipeline: async (...streams: { destroy(): void }[]) => {
        for (const stream of streams) stream.destroy();
        throw new BlobTooLargeError(0);
      },
    },
  });
  const dataDir = tempDataDir(t);
  const store = withEarlyFailure({ dataDir });
  for (let i = 0; i < 5; i++) {
    await t.rejects(
      store.put('binary/refused', streamOf(Buffer.from('x')), { contentType: 'a/b', maxBytes: 0 }),
      BlobTooLargeError,
    );
  }
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.same(await filesUnder(dataDir), []);
});

t.test('a failed put leaves the previous version in place', async (t) => {
  const { store } = storeFor(t);
  await store.put('binary/kept', streamOf(Buffer.from('v1')), { contentType: 'a/b', maxBytes: 9 });
  await t.rejects(
    store.put('binary/kept', endlessStream().stream, { contentType: 'a/b', maxBytes: 9 }),
    BlobTooLargeError,
  );
  const got = await store.get('binary/kept');
  t.equal(got && (await readAll(got.body)).toString(), 'v1');
});

t.test('get and exists of an absent key; delete is idempotent', async (t) => {
  const { store, dataDir } = storeFor(t);
  t.equal(await store.get('binary/never-stored'), undefined);
  t.equal(await store.exists('binary/never-stored'), false);
  await store.put('binary/gone', streamOf(Buffer.from('bye')), { contentType: 'a/b', maxBytes: 9 });
  await store.delete('binary/gone');
  await store.delete('binary/gone');
  t.equal(await store.get('binary/gone'), undefined);
  t.same(await filesUnder(dataDir), []);
});

t.test('the key file: made once with mode 0600, shared by every store on DATA_DIR', async (t) => {
  const dataDir = tempDataDir(t);
  // Two stores starting together on a fresh directory must agree on one key.
  const first = createLocalBlobStore({ dataDir });
  const second = createLocalBlobStore({ dataDir });
  const options = { contentType: 'a/b', maxBytes: 9 };
  await Promise.all([
    first.put('binary/one', streamOf(Buffer.from('one')), options),
    second.put('binary/two', streamOf(Buffer.from('two')), options),
  ]);
  const keyFile = join(dataDir, 'blob-key');
  t.equal((await stat(keyFile)).mode & 0o777, 0o600);
  t.equal((await readFile(keyFile)).length, 32);
  t.same(
    (await readdir(dataDir)).filter((name) => name.startsWith('blob-key')),
    ['blob-key'],
    'no candidate key left behind',
  );

  const third = createLocalBlobStore({ dataDir });
  const one = await third.get('binary/one');
  const two = await first.get('binary/two');
  t.equal(one && (await readAll(one.body)).toString(), 'one');
  t.equal(two && (await readAll(two.body)).toString(), 'two');
});

t.test('eight concurrent first uses all end up with the same key', async (t) => {
  const path = join(tempDataDir(t), 'blob-key');
  const keys = await Promise.all(Array.from({ length: 8 }, () => loadOrCreateBlobKey(path)));
  t.ok(keys.every((key) => key.equals(keys[0] as Buffer)));
  t.same(await readdir(dirname(path)), ['blob-key'], 'no candidate key left behind');
});

t.test('a key file others can read is refused', async (t) => {
  const dataDir = tempDataDir(t);
  const options = { contentType: 'a/b', maxBytes: 9 };
  await createLocalBlobStore({ dataDir }).put('binary/x', streamOf(Buffer.from('x')), options);
  await chmod(join(dataDir, 'blob-key'), 0o644);
  await t.rejects(createLocalBlobStore({ dataDir }).get('binary/x'), /chmod 600/);
});

t.test('keys that could escape the blob directory are refused', async (t) => {
  const { store, dataDir } = storeFor(t);
  const bad = [
    '../blob-key',
    '/etc/passwd',
    'binary/../../x',
    'binary//x',
    'a\\b',
    '.partial/x',
    '',
  ];
  for (const key of bad) {
    await t.rejects(store.get(key), InvalidBlobKeyError, `get ${key}`);
    await t.rejects(store.exists(key), InvalidBlobKeyError, `exists ${key}`);
    await t.rejects(store.delete(key), InvalidBlobKeyError, `delete ${key}`);
    await t.rejects(
      store.put(key, streamOf(Buffer.from('x')), { contentType: 'a/b', maxBytes: 9 }),
      InvalidBlobKeyError,
      `put ${key}`,
    );
  }
  t.same(await readdir(dataDir), [], 'nothing was touched');
});
