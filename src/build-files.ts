import { readFileSync, renameSync, writeFileSync } from 'node:fs';

/**
 * Files `npm run build` writes for the server to read at start instead of working them out
 * (dist/*.json). A missing or unreadable one is `undefined`: the caller works it out instead.
 */
export function readBuildFile(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as unknown;
  } catch {
    return undefined;
  }
}

/** Writes one whole or not at all (beside it, then renamed): a reader never sees half. */
export function writeBuildFile(path: string, value: unknown): void {
  const partial = `${path}.${process.pid}.tmp`;
  writeFileSync(partial, JSON.stringify(value));
  renameSync(partial, path);
}
