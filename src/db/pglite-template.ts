/**
 * An embedded database already initialised and migrated, made by `npm run build`
 * (dist/pglite-template-<digest>/). PGlite runs initdb in WebAssembly: ~5 s of the first
 * start on an empty DATA_DIR, most of the embedded cold start; copying this directory and
 * opening it takes ~1.2 s. It is used only when made by this PGlite version from these
 * migrations (its name carries their digest); otherwise initdb runs, and the migrations, as
 * before. (A tarball for PGlite's `loadDataDir` would be smaller, but unpacking it in
 * WebAssembly took ~1 s longer.)
 */
import { createHash } from 'node:crypto';
import { cpSync, existsSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { PgliteDatabase } from './database.js';
import { migrate, MIGRATIONS_DIR, WORKFLOW_MIGRATIONS } from './migrate.js';
import { fromRoot } from '../paths.js';

/** Where the build keeps templates: each in `pglite-template-<digest>`, made once. */
export const TEMPLATE_DIR = fromRoot('dist');
const PREFIX = 'pglite-template-';
/** The template's directory in `base`, named by the digest of what it is made from. */
export const templateIn = (base: string): string =>
  join(base, `${PREFIX}${templateDigest().slice(0, 32)}`);

/** What the template depends on: the PGlite build, and every migration's name and text. */
export function templateDigest(): string {
  const hash = createHash('sha256').update(`@electric-sql/pglite@${pgliteVersion()}\0`);
  for (const dir of [MIGRATIONS_DIR, WORKFLOW_MIGRATIONS]) {
    for (const file of readdirSync(dir).sort()) {
      hash
        .update(`${file}\0`)
        .update(readFileSync(join(dir, file)))
        .update('\0');
    }
  }
  return hash.digest('hex');
}

/** The installed PGlite's version (its package.json is not among its exports). */
function pgliteVersion(): string {
  let dir = dirname(createRequire(import.meta.url).resolve('@electric-sql/pglite'));
  for (;;) {
    try {
      const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (manifest.name === '@electric-sql/pglite') return String(manifest.version);
    } catch {
      // no package.json at this level
    }
    const parent = dirname(dir);
    if (parent === dir) return 'unknown';
    dir = parent;
  }
}

/**
 * Fills `dir`, a new or empty data directory, from the template; false when there is none
 * made from what this server would make it from. Copied beside it and renamed, so a start
 * interrupted halfway leaves no half a database; any failure leaves it to initdb.
 */
export function copyTemplate(dir: string, base: string = TEMPLATE_DIR): boolean {
  const template = templateIn(base);
  if (!existsSync(join(template, 'PG_VERSION'))) return false;
  const partial = `${dir}.${process.pid}.partial`;
  try {
    rmSync(partial, { recursive: true, force: true });
    cpSync(template, partial, { recursive: true });
    rmSync(dir, { recursive: true, force: true });
    renameSync(partial, dir);
    return true;
  } catch {
    rmSync(partial, { recursive: true, force: true });
    return false;
  }
}

/**
 * Makes the template in `base` unless it is there already: a new database, both sets of
 * migrations, closed cleanly, then renamed into place (a directory a server may be copying
 * is never changed). Templates of other digests are removed. Returns its directory.
 */
export async function writeTemplate(base: string = TEMPLATE_DIR): Promise<string> {
  const template = templateIn(base);
  const ours = `${basename(template)}.`;
  for (const entry of readdirSync(base)) {
    if (!entry.startsWith(PREFIX) || join(base, entry) === template) continue;
    // Another build making this same template now (tests build in parallel) keeps its partial.
    const pid = entry.startsWith(ours) ? Number(/\.(\d+)\.partial$/.exec(entry)?.[1]) : NaN;
    if (pid && isAlive(pid)) continue;
    rmSync(join(base, entry), { recursive: true, force: true });
  }
  if (existsSync(join(template, 'PG_VERSION'))) return template;
  const [{ PGlite }, { btree_gist }] = await Promise.all([
    import('@electric-sql/pglite'),
    import('@electric-sql/pglite/contrib/btree_gist'),
  ]);
  const partial = `${template}.${process.pid}.partial`;
  rmSync(partial, { recursive: true, force: true });
  const pglite = new PGlite(partial, { extensions: { btree_gist } });
  try {
    const db = new PgliteDatabase(pglite);
    await migrate(db);
    await migrate(db, WORKFLOW_MIGRATIONS, 'workflow_migrations');
  } finally {
    if (!pglite.closed) await pglite.close();
  }
  try {
    renameSync(partial, template);
  } catch (err) {
    // Another build renamed its own into place first: the same digest, the same template.
    rmSync(partial, { recursive: true, force: true });
    if (!existsSync(join(template, 'PG_VERSION'))) throw err;
  }
  return template;
}

/** Whether a process of this id runs (signal 0 checks without sending anything). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
