/**
 * Whether the build steps after tsc (src/cli/compact-definitions.ts) have anything to do: a
 * digest of everything they read — the compiled code that runs them, the profiles, the
 * migrations, and the versions of the R4 definitions and of PGlite — is written beside their
 * outputs, and a build that finds the same digest and every output in place skips them. Node
 * built-ins only, so the check itself costs milliseconds: `npm start` runs the build each time.
 */
import { createHash, type Hash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { writeBuildFile } from './build-files.js';
import { fromRoot } from './paths.js';

export const STAMP_PATH = fromRoot('dist', 'build-steps.json');

/** Inputs read by the build steps, as directories walked in full or single files. */
function inputs(root: string): string[] {
  return [
    join(root, 'dist', 'src'),
    join(root, 'profiles'),
    join(root, 'src', 'db', 'migrations'),
    join(root, 'node_modules', '@medplum', 'definitions', 'package.json'),
    join(root, 'node_modules', '@electric-sql', 'pglite', 'package.json'),
    join(root, 'node_modules', 'ajv', 'package.json'),
    join(root, 'node_modules', '@asymmetrik', 'fhir-json-schema-validator', 'package.json'),
  ];
}

function addTree(hash: Hash, root: string, path: string): void {
  if (!existsSync(path)) {
    hash.update(`missing ${relative(root, path)}\0`);
    return;
  }
  let entries;
  try {
    entries = readdirSync(path, { withFileTypes: true });
  } catch {
    // a file
    hash.update(`${relative(root, path)}\0`).update(readFileSync(path));
    return;
  }
  for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    // Source maps change with the code they map and are never read by a build step.
    if (entry.isFile() && entry.name.endsWith('.map')) continue;
    addTree(hash, root, join(path, entry.name));
  }
}

/** The digest of what the build steps read under `root` (the package root). */
export function buildInputsDigest(root: string = fromRoot()): string {
  const hash = createHash('sha256');
  for (const path of inputs(root)) addTree(hash, root, path);
  return hash.digest('hex');
}

/** True when the outputs exist and were made from inputs with this digest. */
export function upToDate(digest: string, outputs: readonly string[]): boolean {
  if (!outputs.every((path) => existsSync(path))) return false;
  try {
    const stamp = JSON.parse(readFileSync(STAMP_PATH, 'utf8')) as { digest?: unknown };
    return stamp.digest === digest;
  } catch {
    return false;
  }
}

/** Records that the outputs were made from inputs with this digest. */
export function writeStamp(digest: string): void {
  writeBuildFile(STAMP_PATH, { digest });
}
