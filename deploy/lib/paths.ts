import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** deploy/, found by walking up to cdk.json, so it resolves the same from lib/ and dist/lib/. */
function findDeployRoot(start: string): string {
  let dir = start;
  while (!existsSync(join(dir, 'cdk.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`cdk.json not found above ${start}`);
    dir = parent;
  }
  return dir;
}

export const deployRoot = findDeployRoot(__dirname);

/** The repository root: the server's Dockerfile and sources. */
export const repoRoot = dirname(deployRoot);
