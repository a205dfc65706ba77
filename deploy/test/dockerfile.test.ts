/**
 * The server image's Dockerfile (at the repository root): multi-stage, non-root, production
 * dependencies only, and every file the server reads at run time copied in.
 */
import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../lib/paths';

const dockerfile = readFileSync(join(repoRoot, 'Dockerfile'), 'utf8');
const instructions = dockerfile
  .replace(/\\\n\s*/g, ' ')
  .split('\n')
  .map((line) => line.trim())
  .filter((line) => line !== '' && !line.startsWith('#'));
const stages: { name: string; lines: string[] }[] = [];
for (const line of instructions) {
  const from = /^FROM\s+\S+(?:\s+AS\s+(\S+))?/i.exec(line);
  if (from) stages.push({ name: from[1] ?? '', lines: [] });
  else stages.at(-1)?.lines.push(line);
}
const stage = (name: string) => stages.find((s) => s.name === name)?.lines ?? [];

t.test('two stages: build, then runtime', async (t) => {
  t.same(
    stages.map((s) => s.name),
    ['build', 'runtime'],
  );
  t.ok(stage('build').some((l) => /^RUN npm ci\b/.test(l) && !l.includes('--omit')));
  t.ok(stage('build').some((l) => l === 'RUN npm run build'));
  // npm run build compiles the profiles and writes dist/profile-snapshots.json from them.
  const build = stage('build');
  const profiles = build.findIndex((l) => /^COPY profiles \.\/profiles$/.test(l));
  t.ok(
    profiles >= 0 && profiles < build.indexOf('RUN npm run build'),
    'profiles/ before the build',
  );
});

t.test('runtime: production dependencies only, as a non-root user', async (t) => {
  const runtime = stage('runtime');
  t.ok(
    runtime.some((l) => /^RUN npm ci .*--omit=dev/.test(l)),
    'npm ci --omit=dev',
  );
  const user = runtime.findIndex((l) => l.startsWith('USER '));
  t.ok(user >= 0, 'a USER instruction');
  t.notMatch(runtime[user] ?? '', /USER\s+(root|0)\b/);
  const cmd = runtime.findIndex((l) => l.startsWith('CMD '));
  t.ok(cmd > user, 'the server starts after USER');
  t.equal(runtime[cmd], 'CMD ["node", "dist/src/main.js"]');
  t.ok(
    runtime.some((l) => /^ENV .*HOST=0\.0\.0\.0/.test(l)),
    'listens on every interface',
  );
  t.ok(runtime.some((l) => /^ENV .*PORT=8080/.test(l)));
});

t.test('the runtime image has what the server reads from its root', async (t) => {
  const runtime = stage('runtime').join('\n');
  for (const path of ['src/db/migrations', 'profiles', 'operations', 'capability-statement.json']) {
    t.ok(existsSync(join(repoRoot, path)), `${path} exists in the repository`);
    t.match(runtime, new RegExp(`^COPY ${path.replace(/\./g, '\\.')} `, 'm'), `${path} is copied`);
  }
  t.match(runtime, /^COPY --from=build \/app\/dist\/src \.\/dist\/src$/m);
  t.match(
    runtime,
    /^COPY --from=build \/app\/dist\/r4-structure-definitions\.json \.\/dist\/$/m,
    'the R4 definitions the build compacted (else every start compacts them again)',
  );
  t.match(
    runtime,
    /^COPY --from=build \/app\/dist\/profile-snapshots\.json \.\/dist\/$/m,
    'the profile snapshots the build generated (else every start generates them again)',
  );
  t.match(
    runtime,
    /^COPY package\.json package-lock\.json \.\/$/m,
    'package.json locates the root',
  );
});

t.test('every COPY source exists and is in the build context', async (t) => {
  const ignore = readFileSync(join(repoRoot, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  t.equal(ignore[0], '*', '.dockerignore starts from nothing');
  const allowed = ignore.filter((l) => l.startsWith('!')).map((l) => l.slice(1).replace(/\/$/, ''));
  t.notOk(allowed.some((p) => p === 'deploy' || p === 'node_modules' || p.startsWith('.data')));
  for (const line of instructions.filter((l) => l.startsWith('COPY ') && !l.includes('--from'))) {
    const sources = line.split(/\s+/).slice(1, -1);
    for (const source of sources) {
      t.ok(existsSync(join(repoRoot, source)), `${source} exists`);
      t.ok(
        allowed.some((p) => source === p || source.startsWith(`${p}/`)),
        `${source} is not excluded by .dockerignore`,
      );
    }
  }
});

t.test('the build emits dist/src, where CMD looks', async (t) => {
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
    scripts: Record<string, string>;
  };
  t.equal(pkg.scripts.build, 'node build.mjs');
  // build.mjs compiles tsconfig.build.json (tsc in build mode) before its other steps.
  t.match(readFileSync(join(repoRoot, 'build.mjs'), 'utf8'), /'-b', 'tsconfig\.build\.json'/);
  const tsconfig = readFileSync(join(repoRoot, 'tsconfig.json'), 'utf8');
  t.match(tsconfig, /"outDir":\s*"dist"/);
  t.match(tsconfig, /"rootDir":\s*"\."/);
  t.ok(existsSync(join(repoRoot, 'src', 'main.ts')));
});
