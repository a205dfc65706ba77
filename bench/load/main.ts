/**
 * `npm run bench` (`-- --quick`, `--patients N`, `--encounters N`, `--seconds S`, `--connections C`,
 * `--search-connections C`, `--no-write`, `--autocannon`: every scenario by autocannon, none by wrk). `BENCH_SECONDS=S` sets the seconds per scenario too
 * (a short run: `BENCH_SECONDS=3 npm run bench:load -- --patients 5000`).
 */
import { fromRoot } from '../../src/paths.js';
import { commit, machine, replaceSection } from '../results.js';
import { runLoadBenchmarks, type Row } from './run.js';
import type { Floor, FloorName } from '../floor/floors.js';
import { healthLakeOverhead } from './healthlake.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const SECTION = '## Load (issue 7)';

function option(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  if (at < 0) return fallback;
  const value = Number(process.argv[at + 1]);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} takes a positive number`);
  return value;
}

const fixed = (value: number | undefined, digits = 1) =>
  value === undefined || Number.isNaN(value) ? '-' : value.toFixed(digits);

export function table(rows: Row[]): string {
  const lines = [
    '| scenario | load tool | connections | req/s | p50 ms | p95 ms | p99 ms | RSS MB | CPU ms/req: server | Postgres | client | ratio to floor | floor tps | ratio to bare Fastify | target | met |',
    '| --- | --- | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --- | --- |',
  ];
  for (const row of rows) {
    const met = row.met === undefined ? '-' : row.met ? 'yes' : 'no';
    const rps = row.rps === undefined ? (row.note ?? '-') : row.rps.toFixed(0);
    lines.push(
      `| ${row.scenario} | ${row.tool ?? '-'} | ${row.connections ?? '-'} | ${rps} | ${fixed(row.p50)} | ${fixed(row.p95)} | ${fixed(row.p99)} | ${fixed(row.rssMb, 0)} | ${fixed(row.cpuMs, 2)} | ${fixed(row.dbCpuMs, 2)} | ${fixed(row.clientCpuMs, 2)} | ${fixed(row.floorRatio, 2)} | ${fixed(row.floorTps, 0)} | ${row.ratio === undefined ? '-' : row.ratio.toFixed(2)} | ${row.target} | ${met} |`,
    );
  }
  return lines.join('\n');
}

/** The floors themselves: pgbench's own throughput and latency for each scenario's SQL. */
export function floorTable(floors: Map<FloorName, Floor>): string {
  const lines = [
    '| floor (pgbench -n -M prepared, -j 2) | clients | tps | p50 ms | p95 ms | p99 ms | Postgres CPU ms/tx | failed |',
    '| --- | --: | --: | --: | --: | --: | --: | --: |',
  ];
  for (const f of floors.values()) {
    lines.push(
      `| ${f.name}: ${f.what} | ${f.clients} | ${f.tps.toFixed(0)} | ${fixed(f.p50)} | ${fixed(f.p95)} | ${fixed(f.p99)} | ${fixed(f.dbCpuMs, 2)} | ${f.failed} |`,
    );
  }
  return lines.join('\n');
}

async function main() {
  const quick = process.argv.includes('--quick');
  const options = {
    quick,
    // 20 000 Patients seed in 1–3 minutes here (through the store's write path); the issue's
    // 100 000 take 7–13: `--patients 100000 --encounters 20000`.
    patients: option('patients', quick ? 50 : 20_000),
    encounters: option('encounters', quick ? 20 : 4_000),
    seconds: option('seconds', quick ? 1 : Number(process.env.BENCH_SECONDS) || 10),
    connections: option('connections', quick ? 4 : 50),
    searchConnections: option('search-connections', 4),
    databaseUrl: process.env.DATABASE_URL || undefined,
    wrk: !process.argv.includes('--autocannon'),
  };
  const { rows, notes, floors } = await runLoadBenchmarks(options);
  rows.push(...(await healthLakeOverhead(options)));
  const body = [
    SECTION,
    '',
    `- Date: ${new Date().toISOString()}`,
    `- Commit: ${commit()}`,
    `- Machine: ${machine()}; autocannon, the servers and the database share it`,
    `- Store: ${options.databaseUrl ? 'PostgreSQL (DATABASE_URL, a fresh schema)' : 'embedded PGlite'}; ${options.seconds} s per scenario at ${options.connections} connections (the searches at ${options.searchConnections})`,
    `- Load generators: ${options.wrk ? 'wrk (one thread, its own process) for the GET scenarios (the load tool column), autocannon (in this process) for the rest' : 'autocannon (in this process)'}; HTTP/1.1 keep-alive. The floors: pgbench with the scripts in bench/pgbench/ and the store's own search page statements (bench/floor/floors.ts), on the same database and data, in the same run.`,
    ...notes.map((note) => `- ${note}`),
    '',
    table(rows),
    '',
    ...(floors.size ? [floorTable(floors), ''] : []),
  ].join('\n');
  console.log(body);
  if (!process.argv.includes('--no-write'))
    await replaceSection(fromRoot('bench', 'RESULTS.md'), SECTION, body);
  const unexpected = rows.filter((row) => row.unexpected && Object.keys(row.unexpected).length);
  for (const row of unexpected)
    console.error(`${row.scenario}: unexpected statuses ${JSON.stringify(row.unexpected)}`);
  if (unexpected.length) process.exitCode = 1;
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
