/**
 * What `npm run build` writes for a start to read instead of working out, made once for the
 * test run when missing or stale: the R4 schema's validate functions as code
 * (dist/r4-validators.cjs, src/validation/schema-code.ts). Without it every test process
 * compiles them (~1 s of CPU each); with it each loads them in ~0.15 s. Tap runs files in
 * parallel processes: the first to need it writes it under a lock while the others wait.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fromRoot } from '../src/paths.js';
import { structureModuleIsCurrent, writeStructureModule } from '../src/validation/structure.js';
import { acquire } from './embedded-template.js';

let made: Promise<void> | undefined;

export function testBuildFiles(): Promise<void> {
  made ??= makeOnce();
  return made;
}

async function makeOnce(): Promise<void> {
  if (structureModuleIsCurrent()) return;
  const cache = fromRoot('node_modules', '.cache');
  mkdirSync(cache, { recursive: true }); // a fresh clone has none yet
  const lock = join(cache, 'telefhir-build-files.lock');
  await acquire(lock);
  try {
    if (!structureModuleIsCurrent()) writeStructureModule();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}
