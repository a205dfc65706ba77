import type { ElementDefinition } from 'fhir/r4.js';
import { readBuildFile, writeBuildFile } from '../build-files.js';
import { fromRoot } from '../paths.js';

/**
 * The snapshots `npm run build` generates for the shipped profiles that come with a
 * differential only (dist/profile-snapshots.json). Generating them at start read all of R4's
 * base definitions (~150 ms of a ~1.2 s start) for two profiles. The file names the digest of
 * what they were made from (every profile file and the R4 definitions' version, see
 * `loadProfiles`): any other digest, and they are generated as before.
 */
export const SNAPSHOTS_PATH = fromRoot('dist', 'profile-snapshots.json');

interface SnapshotFile {
  digest: string;
  snapshots: Record<string, ElementDefinition[]>;
}

/** The file's snapshots by profile URL, if it was made from `digest`. */
export function readSnapshotFile(
  path: string,
  digest: string,
): ReadonlyMap<string, ElementDefinition[]> | undefined {
  const file = readBuildFile(path) as Partial<SnapshotFile> | undefined;
  if (file?.digest !== digest || typeof file.snapshots !== 'object' || !file.snapshots)
    return undefined;
  return new Map(Object.entries(file.snapshots));
}

/** Writes the file whole or not at all, so a starting server never reads half of one. */
export function writeSnapshotFile(
  path: string,
  digest: string,
  snapshots: ReadonlyMap<string, ElementDefinition[]>,
): void {
  writeBuildFile(path, { digest, snapshots: Object.fromEntries(snapshots) } satisfies SnapshotFile);
}
