/**
 * `npm start` and the CLIs run `npm run build` first, so a build of what is already built must
 * do nothing: tsc in build mode (tsc -b, its tsbuildinfo) and the later steps behind a digest
 * of their inputs (src/build-stamp.ts). Nothing here is timed (bench/RESULTS.md has the start
 * times); a second build is shown to write no file.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { buildInputsDigest } from '../../src/build-stamp.js';
import { fromRoot, projectRoot } from '../../src/paths.js';

async function npmBuild(): Promise<string> {
  const child = spawn('npm', ['run', 'build', '--silent'], {
    cwd: projectRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (chunk) => (out += String(chunk)));
  child.stderr.on('data', (chunk) => (out += String(chunk)));
  const [code] = await once(child, 'exit');
  if (code !== 0) throw new Error(`npm run build exited ${code}:\n${out}`);
  return out;
}

/** Every file the build writes, with its modification time. */
function builtFiles(): Map<string, number> {
  const files = new Map<string, number>();
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        // dist/bench is the benchmarks' build, not `npm run build`'s.
        if (path !== fromRoot('dist', 'bench')) walk(path);
      } else files.set(path, statSync(path).mtimeMs);
    }
  };
  walk(fromRoot('dist'));
  return files;
}

t.test('a second npm run build writes nothing', { timeout: 600_000 }, async (t) => {
  await npmBuild(); // whatever dist/ held: now built
  const before = builtFiles();
  t.ok(before.has(fromRoot('dist', 'src', 'main.js')), 'the server is built');
  t.ok(before.has(fromRoot('dist', 'r4-structure-definitions.json')), 'and the build steps ran');
  t.ok(before.has(fromRoot('dist', 'r4-validators.cjs')), 'the R4 schema functions as code');
  const out = await npmBuild();
  t.match(out, /build steps: up to date/, 'the build steps say they had nothing to do');
  const after = builtFiles();
  t.same([...after.keys()].sort(), [...before.keys()].sort(), 'no file added or removed');
  const touched = [...after].filter(([path, mtime]) => before.get(path) !== mtime);
  t.same(touched, [], 'no file rewritten');
});

t.test('the build steps run again when something they read changes', async (t) => {
  const root = t.testdir({
    dist: { src: { 'main.js': 'one', 'main.js.map': 'map one' } },
    profiles: { 'a.json': '{}' },
    src: { db: { migrations: { schema: { '001.sql': 'select 1' } } } },
  });
  const first = buildInputsDigest(root);
  t.equal(buildInputsDigest(root), first, 'the same inputs, the same digest');
  writeFileSync(join(root, 'dist', 'src', 'main.js.map'), 'map two');
  t.equal(buildInputsDigest(root), first, 'a source map is not an input');
  for (const [path, text] of [
    [['dist', 'src', 'main.js'], 'two'],
    [['profiles', 'a.json'], '{"x":1}'],
    [['src', 'db', 'migrations', 'schema', '002.sql'], 'select 2'],
  ] as const) {
    const before = buildInputsDigest(root);
    writeFileSync(join(root, ...path), text);
    t.not(buildInputsDigest(root), before, `${path.join('/')} changed: the steps run`);
  }
  mkdirSync(join(root, 'node_modules', '@medplum', 'definitions'), { recursive: true });
  const before = buildInputsDigest(root);
  writeFileSync(join(root, 'node_modules', '@medplum', 'definitions', 'package.json'), '{}');
  t.not(buildInputsDigest(root), before, 'another R4 definitions package: the steps run');
});
