import { randomBytes } from 'node:crypto';
import { link, mkdir, open, rm } from 'node:fs/promises';
import { dirname } from 'node:path';

const KEY_BYTES = 32;

function errorCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

async function readKey(path: string): Promise<Buffer | undefined> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return undefined;
    throw error;
  }
  try {
    const { mode } = await handle.stat();
    // Like ssh with a private key: a key others can read protects nothing, so say so now
    // rather than encrypt under it.
    if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
      throw new Error(
        `${path} is accessible to other users (mode ${(mode & 0o777).toString(8)}); chmod 600 it`,
      );
    }
    const key = await handle.readFile();
    if (key.length !== KEY_BYTES) {
      throw new Error(`${path} must hold exactly ${KEY_BYTES} bytes (it holds ${key.length})`);
    }
    return key;
  } finally {
    await handle.close();
  }
}

/**
 * The local blob store's master key, kept in `path` (mode 0600) and made on first use.
 *
 * Two processes starting together on a fresh DATA_DIR must not each encrypt under a key of
 * their own. So each writes a complete candidate to a temporary file of its own and link()s
 * it to `path`, which fails when `path` exists: exactly one candidate wins, nobody ever sees a
 * half-written key, and everyone then reads the winner's.
 */
export async function loadOrCreateBlobKey(path: string): Promise<Buffer> {
  const existing = await readKey(path);
  if (existing) return existing;
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const candidate = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    const handle = await open(candidate, 'wx', 0o600);
    try {
      await handle.writeFile(randomBytes(KEY_BYTES));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await link(candidate, path).catch((error: unknown) => {
      if (errorCode(error) !== 'EEXIST') throw error;
    });
  } finally {
    await rm(candidate, { force: true });
  }
  const key = await readKey(path);
  if (!key) throw new Error(`${path} vanished while it was being created`);
  return key;
}
