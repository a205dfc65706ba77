/**
 * Where the server's time goes for the audited `GET /fhir/Patient/{id}`: the built server runs
 * under `node --cpu-prof` on a schema of its own (dropped after), Patients are created through
 * it, then autocannon reads them, and the profile's samples taken during the timed load are
 * summed by self time per module (package, server file or V8/Node internals) and per function.
 *
 *   DATABASE_URL=postgres://... npm run bench:profile -- \
 *     [--seconds 8] [--connections 50] [--patients 2000] [--top 15]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { fromRoot } from '../src/paths.js';
import { BENCH_AUTH_ENV, benchToken } from './auth.js';
import { freePort } from './load/run.js';
import { runLoad } from './load/load.js';
import { seededRandom, syntheticPatient } from './synthetic.js';

function option(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  return at < 0 ? fallback : Number(process.argv[at + 1]);
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** The module a frame belongs to: an npm package, a server file, or an engine/runtime part. */
export function moduleOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native V8/C++)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  if (url.startsWith('node:')) return url;
  const own = /\/dist\/(src\/.*)$/.exec(url);
  if (own) return own[1]!;
  return url;
}

/** Self time (ms) per key over the samples at or after `from` (µs since the profile's start). */
export function selfTime(
  profile: CpuProfile,
  from: number,
  to: number,
  key: (node: ProfileNode) => string,
) {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const totals = new Map<string, number>();
  let at = 0;
  let total = 0;
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0;
    at += delta;
    if (at < from || at > to) return;
    const k = key(byId.get(id)!);
    totals.set(k, (totals.get(k) ?? 0) + delta / 1000);
    if (k !== '(idle)' && !k.startsWith('(idle)')) total += delta / 1000;
  });
  return { total, rows: [...totals].sort((a, b) => b[1] - a[1]) };
}

function table(title: string, result: ReturnType<typeof selfTime>, top: number): string {
  const lines = [`| ${title} | self ms | share of busy |`, '| --- | --: | --: |'];
  for (const [name, ms] of result.rows.slice(0, top)) {
    const share = name.startsWith('(idle)') ? '-' : `${((100 * ms) / result.total).toFixed(1)} %`;
    lines.push(`| ${name} | ${ms.toFixed(0)} | ${share} |`);
  }
  return lines.join('\n');
}

async function main() {
  const databaseUrl = process.env.DATABASE_URL;
  if (!databaseUrl) throw new Error('DATABASE_URL: the Postgres to profile on');
  const schema = `bench_prof_${process.pid}`;
  const admin = new pg.Client({ connectionString: databaseUrl });
  await admin.connect();
  await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE; CREATE SCHEMA ${schema}`);
  const url = `${databaseUrl}${databaseUrl.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`;
  const seconds = option('seconds', 8);
  const connections = option('connections', 50);
  const patients = option('patients', 2_000);
  const top = option('top', 15);
  const dir = mkdtempSync(join(tmpdir(), 'telefhir-prof-'));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}/fhir`;
  const child = spawn(
    process.execPath,
    ['--cpu-prof', '--cpu-prof-dir', dir, fromRoot('dist', 'src', 'main.js')],
    {
      env: {
        ...process.env,
        PORT: String(port),
        HOST: '127.0.0.1',
        FHIR_BASE_URL: base,
        DATABASE_URL: url,
        ...BENCH_AUTH_ENV,
        LOG_LEVEL: 'warn',
        NODE_ENV: 'development',
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const started = performance.now();
  let loadFrom = 0;
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error('the server exited during start-up');
      const ok = await fetch(`${base}/metadata`).then(
        (res) => res.status === 200,
        () => false,
      );
      if (ok) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const auth = {
      authorization: `Bearer ${benchToken()}`,
      'content-type': 'application/fhir+json',
    };
    const rng = seededRandom(7);
    const ids: string[] = [];
    for (let from = 0; from < patients; from += 20) {
      const made = await Promise.all(
        Array.from({ length: Math.min(20, patients - from) }, async (_, i) => {
          const res = await fetch(`${base}/Patient`, {
            method: 'POST',
            headers: auth,
            body: JSON.stringify(syntheticPatient(rng, from + i)),
          });
          if (res.status !== 201)
            throw new Error(`POST Patient: ${res.status} ${await res.text()}`);
          return ((await res.json()) as { id: string }).id;
        }),
      );
      ids.push(...made);
    }
    loadFrom = (performance.now() - started) * 1000 + 2e6; // after the 2 s warm-up
    const result = await runLoad({
      url: `http://127.0.0.1:${port}`,
      connections,
      seconds,
      warmupSeconds: 2,
      headers: { authorization: `Bearer ${benchToken()}` },
      request: (n) => ({ method: 'GET', path: `/fhir/Patient/${ids[n % ids.length]}` }),
      pid: child.pid,
      database: new URL(url).pathname.slice(1) || undefined,
    });
    console.log(
      `GET /fhir/Patient/{id} under --cpu-prof, ${connections} connections, ${seconds} s: ` +
        `${result.rps.toFixed(0)} req/s, p95 ${result.p95.toFixed(1)} ms, p99 ${result.p99.toFixed(1)} ms, ` +
        `server CPU ${result.cpuMs?.toFixed(2)} ms/req, Postgres ${result.dbCpuMs?.toFixed(2)} ms/req`,
    );
  } finally {
    child.kill('SIGTERM');
    await exited;
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin.end();
  }
  try {
    const file = readdirSync(dir).find((name) => name.endsWith('.cpuprofile'));
    if (!file) throw new Error('the server wrote no .cpuprofile');
    const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile;
    // Only the timed load: samples from the end of the warm-up on (the profile's clock starts
    // with the process, a little after the spawn: start-up and seeding fall before).
    const from = loadFrom;
    const to = from + seconds * 1e6;
    const byModule = selfTime(profile, from, to, (node) =>
      moduleOf(node.callFrame.url, node.callFrame.functionName),
    );
    const byFunction = selfTime(profile, from, to, (node) => {
      const { functionName, url, lineNumber } = node.callFrame;
      const where = url ? `${moduleOf(url, functionName)}:${lineNumber + 1}` : '';
      return `${functionName || '(anonymous)'}${where ? ` (${where})` : ''}`;
    });
    const idle = byModule.rows.find(([name]) => name === '(idle)')?.[1] ?? 0;
    console.log(
      `\n${seconds} s of load: the main thread was busy ${byModule.total.toFixed(0)} ms, idle ${idle.toFixed(0)} ms\n`,
    );
    console.log(table('module (self time)', byModule, top));
    console.log('');
    console.log(table('function (self time)', byFunction, top));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
