/**
 * Embedded (PGlite) databases for tests, copied instead of made: initdb in WebAssembly costs
 * ~3 s per database (more on a loaded machine), the migrations ~0.3 s more; copying a prepared
 * directory ~0.1 s. Each test still gets a database of its own: a copy.
 *
 * Two templates, made by the suite itself so `npm test` needs no `npm run build` first:
 * - `migrated`: what `npm run build` makes (src/db/pglite-template.ts), for a test
 *   server, which would run the same migrations at start-up anyway.
 * - `empty`: initdb only, for tests that migrate (or test migrating) themselves, as they get
 *   an empty schema on Postgres.
 *
 * Kept in node_modules/.cache (ignored, survives runs, like other tools' caches) under the
 * digest of PGlite's version and the migrations, so changing either makes new ones. Tap runs
 * files in parallel processes: the first to need them makes them under a lock (a directory,
 * created atomically) while the others wait, instead of each running initdb.
 */
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync } from 'node:fs';
import { rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fromRoot } from '../src/paths.js';
import { templateDigest, templateIn, writeTemplate } from '../src/db/pglite-template.js';

export const TEST_TEMPLATES = fromRoot('node_modules', '.cache', 'telefhir-pglite');
const EMPTY_PREFIX = 'pglite-empty-';
const emptyIn = (base: string) => join(base, `${EMPTY_PREFIX}${templateDigest().slice(0, 32)}`);

export type TemplateKind = 'migrated' | 'empty';

/** Fills `pgdata`, an embedded database directory not there yet, with a copy of a template. */
export async function copyTestTemplate(pgdata: string, kind: TemplateKind): Promise<void> {
  const templates = await testTemplates();
  const source = kind === 'migrated' ? templateIn(templates) : emptyIn(templates);
  mkdirSync(dirname(pgdata), { recursive: true });
  cpSync(source, pgdata, { recursive: true, errorOnExist: true, force: false });
}

let made: Promise<string> | undefined;

/** The directory holding this checkout's templates, made (once, across processes) if missing. */
export function testTemplates(): Promise<string> {
  made ??= makeOnce();
  return made;
}

const ready = (dir: string) => existsSync(join(dir, 'PG_VERSION'));

async function makeOnce(): Promise<string> {
  const base = TEST_TEMPLATES;
  if (ready(templateIn(base)) && ready(emptyIn(base))) return base;
  mkdirSync(base, { recursive: true });
  const lock = join(base, '.lock');
  await acquire(lock);
  try {
    await writeTemplate(base); // returns at once when another process made it
    await writeEmpty(base);
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
  return base;
}

/** initdb only, closed cleanly, renamed into place; empty templates of other digests go. */
async function writeEmpty(base: string): Promise<void> {
  const empty = emptyIn(base);
  for (const entry of readdirSync(base)) {
    if (entry.startsWith(EMPTY_PREFIX) && join(base, entry) !== empty)
      rmSync(join(base, entry), { recursive: true, force: true });
  }
  if (ready(empty)) return;
  const { PGlite } = await import('@electric-sql/pglite');
  const partial = `${empty}.${process.pid}.partial`;
  const pglite = new PGlite(partial);
  try {
    await pglite.waitReady;
  } finally {
    if (!pglite.closed) await pglite.close();
  }
  renameSync(partial, empty);
}

/** Waits for the lock directory; one left by a process that died is taken over. */
export async function acquire(lock: string): Promise<void> {
  const deadline = Date.now() + 180_000;
  for (;;) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, 'pid'), String(process.pid));
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    if (!holderAlive(lock)) {
      rmSync(lock, { recursive: true, force: true });
      continue;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${lock}`);
    await sleep(100);
  }
}

function holderAlive(lock: string): boolean {
  let pid = 0;
  try {
    pid = Number(readFileSync(join(lock, 'pid'), 'utf8'));
  } catch {
    // just created and the pid not written yet, or its maker died in between
  }
  if (!pid) {
    const since = statSync(lock, { throwIfNoEntry: false });
    return since !== undefined && Date.now() - since.mtimeMs < 10_000;
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
