// `npm run build`, and the build `npm start` and the CLIs run first: compile src/ to dist/src
// with tsc in build mode, then the build steps (dist/src/cli/compact-definitions.js, which
// skip themselves when nothing they read changed). Plain JavaScript, run before anything is
// compiled. When no file under src/ (nor a tsconfig or package.json) is newer than tsc's
// tsbuildinfo, tsc is not even started: loading the compiler costs ~0.4 s, most of a second
// `npm run token`. A deleted file changes its directory's mtime, so it counts too.
import { spawnSync } from 'node:child_process';
import process from 'node:process';
import { readdirSync, statSync, utimesSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = dirname(fileURLToPath(import.meta.url));
const buildInfo = join(root, 'dist', 'tsconfig.build.tsbuildinfo');

function newest(path) {
  const stat = statSync(path);
  let latest = stat.mtimeMs;
  if (stat.isDirectory()) {
    for (const entry of readdirSync(path)) latest = Math.max(latest, newest(join(path, entry)));
  }
  return latest;
}

function compiled() {
  let built;
  try {
    built = statSync(buildInfo).mtimeMs;
  } catch {
    return false;
  }
  const inputs = ['src', 'tsconfig.json', 'tsconfig.build.json', 'package.json'];
  return inputs.every((input) => newest(join(root, input)) <= built);
}

if (!compiled()) {
  const started = new Date();
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const result = spawnSync(process.execPath, [tsc, '-b', 'tsconfig.build.json'], {
    cwd: root,
    stdio: 'inherit',
  });
  if (result.status !== 0) process.exit(result.status ?? 1);
  // tsc leaves the tsbuildinfo alone when it finds nothing to do, and doesn't read
  // package.json: dated when this check began, it says "compiled from what was there then",
  // and a file saved while tsc ran is still newer.
  utimesSync(buildInfo, started, started);
}
await import(pathToFileURL(join(root, 'dist', 'src', 'cli', 'compact-definitions.js')).href);
