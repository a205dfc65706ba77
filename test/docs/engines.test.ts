/**
 * `npm ci` warns EBADENGINE when a locked package's `engines.node` excludes the running Node.
 * The Node versions we claim (package.json `engines.node`) must all be ones every locked
 * package (dev and deploy/ included) accepts, so no supported Node ever sees that warning.
 */
import { readFileSync } from 'node:fs';
import semver from 'semver';
import t from 'tap';
import { fromRoot } from '../../src/paths.js';

interface Lock {
  packages: Record<string, { version?: string; engines?: { node?: string } | string[] }>;
}

function enginesNode(path: string): string {
  const pkg = JSON.parse(readFileSync(fromRoot(path), 'utf8')) as { engines?: { node?: string } };
  const range = pkg.engines?.node;
  if (!range) throw new Error(`${path} has no engines.node`);
  return range;
}

function readLock(path: string): Lock {
  return JSON.parse(readFileSync(fromRoot(path), 'utf8')) as Lock;
}

/** Locked packages whose engines.node doesn't cover every version in `claimed`. */
function excluding(lock: Lock, claimed: string): string[] {
  const found: string[] = [];
  for (const [path, pkg] of Object.entries(lock.packages)) {
    const engines = pkg.engines;
    const range = engines && !Array.isArray(engines) ? engines.node : undefined;
    if (path === '' || range === undefined) continue;
    const covered = semver.validRange(range) !== null && semver.subset(claimed, range);
    if (!covered) found.push(`${path}@${pkg.version} wants node ${range}`);
  }
  return found;
}

const claimed = enginesNode('package.json');

t.test('the engines claim includes Node 20 and the Node running the tests', async (t) => {
  t.ok(semver.intersects(claimed, '20.x'), `${claimed} includes a Node 20`);
  t.ok(semver.satisfies(process.version, claimed), `${process.version} is within ${claimed}`);
  t.equal(enginesNode('deploy/package.json'), claimed, 'deploy/ claims the same Nodes');
});

t.test('every locked package accepts every Node we claim to run on', async (t) => {
  t.same(excluding(readLock('package-lock.json'), claimed), [], 'package-lock.json');
  t.same(excluding(readLock('deploy/package-lock.json'), claimed), [], 'deploy/package-lock.json');
});

t.test('a locked package that wants a newer Node, or an unreadable range, is found', async (t) => {
  // What the lock held before the override: light-my-request 6.8 pulls cookie@2 (node >=22).
  const lock: Lock = {
    packages: {
      '': { engines: { node: '>=1' } },
      'node_modules/cookie': { version: '2.0.2', engines: { node: '>=22' } },
      'node_modules/old': { version: '1.0.0', engines: { node: '>=18' } },
      'node_modules/odd': { version: '1.0.0', engines: { node: 'latest' } },
      'node_modules/legacy': { version: '1.0.0', engines: ['node >= 0.8'] },
    },
  };
  t.same(excluding(lock, claimed), [
    'node_modules/cookie@2.0.2 wants node >=22',
    'node_modules/odd@1.0.0 wants node latest',
  ]);
});
