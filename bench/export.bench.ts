/**
 * Bulk Data $export benchmark: loads synthetic Patients, one Encounter each, through the
 * store's write path, kicks off `$export?_type=Patient,Encounter` over HTTP as a backend
 * service, and runs the worker in this process, timing it and sampling the process's RSS at
 * every page, so the row shows whether memory grows with the export (it should stay flat: the
 * worker streams keyset pages into the output files).
 *
 *   npm run bench:export -- --patients 100000          # embedded PGlite in a temp directory
 *   DATABASE_URL=postgres://... npm run bench:export -- --patients 100000
 *
 * Prints the row for bench/RESULTS.md ("Bulk export").
 */
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import type { Resource } from 'fhir/r4.js';
import pg from 'pg';
import { buildApp } from '../src/app.js';
import { loadConfig, type Config } from '../src/config.js';
import { openDatabase } from '../src/db/database.js';
import { migrate } from '../src/db/migrate.js';
import { workOnce } from '../src/export/worker.js';
import { PostgresStore } from '../src/store/postgres/postgres-store.js';
import { searchIndexer } from '../src/store/postgres/search-indexer.js';
import { BENCH_AUTH_ENV, benchToken } from './auth.js';
import { seededRandom, syntheticEncounter, syntheticPatient } from './synthetic.js';

const { values: args } = parseArgs({
  options: {
    patients: { type: 'string', default: '100000' },
    batch: { type: 'string', default: '500' },
    'file-resources': { type: 'string', default: '10000' },
  },
});
const patients = Number(args.patients);
const batch = Number(args.batch);
const rng = seededRandom(5);
const MB = 1024 * 1024;

async function database(): Promise<{ config: Partial<Config>; cleanup: () => Promise<void> }> {
  const url = process.env.DATABASE_URL;
  if (!url) {
    const dataDir = mkdtempSync(join(tmpdir(), 'telefhir-export-bench-'));
    return {
      config: { databaseUrl: undefined, dataDir },
      cleanup: async () => rmSync(dataDir, { recursive: true, force: true }),
    };
  }
  const schema = `bench_export_${process.pid}`;
  const admin = async (sql: string) => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    await client.query(sql).finally(() => client.end());
  };
  await admin(`CREATE SCHEMA ${schema}`);
  const dataDir = mkdtempSync(join(tmpdir(), 'telefhir-export-bench-'));
  return {
    config: {
      databaseUrl: `${url}${url.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`,
      dataDir,
    },
    cleanup: async () => {
      await admin(`DROP SCHEMA ${schema} CASCADE`);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

async function main() {
  const db0 = await database();
  const config: Config = {
    ...loadConfig({ ...process.env, ...BENCH_AUTH_ENV, LOG_LEVEL: 'silent', PORT: '0' }),
    ...db0.config,
  };
  config.bulkExport = {
    ...config.bulkExport,
    pollMs: 0,
    fileResources: Number(args['file-resources']),
  };
  const db = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  await migrate(db);
  const store = new PostgresStore(db, db, false, searchIndexer(config.baseUrl));
  const app = await buildApp(config, { store });
  try {
    const started = performance.now();
    for (let from = 0; from < patients; from += batch) {
      await store.transaction(async (tx) => {
        for (let n = from; n < Math.min(patients, from + batch); n++) {
          const ctx = { requestId: 'bench', access: 'unrestricted' as const };
          const patient = await tx.create(syntheticPatient(rng, n) as Resource, ctx);
          await tx.create(syntheticEncounter(rng, n, patient.id!) as Resource, ctx);
        }
      });
      if ((from / batch) % 20 === 0) console.log(`  loaded ${from + batch} Patients`);
    }
    const loadSeconds = (performance.now() - started) / 1000;
    console.log(`loaded ${patients * 2} resources in ${loadSeconds.toFixed(0)} s`);
    await db.query('VACUUM (ANALYZE) resource_current');

    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as AddressInfo;
    config.baseUrl = `http://127.0.0.1:${port}/fhir`;
    const kick = await fetch(`${config.baseUrl}/$export?_type=Patient,Encounter`, {
      headers: {
        authorization: `Bearer ${benchToken()}`,
        accept: 'application/fhir+json',
        prefer: 'respond-async',
      },
    });
    if (kick.status !== 202) throw new Error(`kick-off: ${kick.status} ${await kick.text()}`);

    (globalThis as { gc?: () => void }).gc?.();
    const before = process.memoryUsage().rss;
    const heapBefore = process.memoryUsage().heapUsed;
    // With --expose-gc (npm run bench:export), a full GC every 10 pages: the heap that is then
    // still live is what the export holds, not garbage V8 has not collected yet.
    const samples: { done: number; rss: number; heap?: number }[] = [];
    const gc = (globalThis as { gc?: () => void }).gc;
    let pages = 0;
    const exportStarted = performance.now();
    await workOnce({
      ...app.exportWorker,
      onPage: () => {
        pages++;
        if (gc && pages % 10 === 0) {
          gc();
          const memory = process.memoryUsage();
          samples.push({ done: pages * 1000, rss: memory.rss, heap: memory.heapUsed });
        } else samples.push({ done: pages * 1000, rss: process.memoryUsage().rss });
      },
    });
    const seconds = (performance.now() - exportStarted) / 1000;
    const [job] = await db.query<{ resources_done: string; files_done: number }>(
      'SELECT resources_done, files_done FROM export_job',
    );
    const exported = Number(job!.resources_done);
    const peak = Math.max(...samples.map((s) => s.rss));
    const at = (fraction: number) => samples[Math.floor((samples.length - 1) * fraction)]!.rss;
    const heaps = samples.flatMap((s) => (s.heap === undefined ? [] : [s.heap]));
    const heapAt = (fraction: number) => heaps[Math.floor((heaps.length - 1) * fraction)] ?? NaN;
    const row = {
      store: db.kind === 'pg' ? 'Postgres' : 'PGlite',
      resources: exported,
      files: job!.files_done,
      seconds: seconds.toFixed(1),
      perSecond: (exported / seconds).toFixed(0),
      rssMB: {
        before: (before / MB).toFixed(0),
        at10: (at(0.1) / MB).toFixed(0),
        at50: (at(0.5) / MB).toFixed(0),
        at100: (at(1) / MB).toFixed(0),
        peak: (peak / MB).toFixed(0),
      },
      liveHeapAfterGcMB: {
        before: (heapBefore / MB).toFixed(0),
        at10: (heapAt(0.1) / MB).toFixed(0),
        at50: (heapAt(0.5) / MB).toFixed(0),
        at100: (heapAt(1) / MB).toFixed(0),
      },
      load: loadavg()[0]!.toFixed(1),
    };
    console.log(JSON.stringify(row));
    console.log(
      `| ${row.store} | ${patients} Patients + ${patients} Encounters | ${row.resources} in ${row.files} files | ${row.seconds} s | **${row.perSecond}/s** | ${row.rssMB.before} / ${row.rssMB.at10} / ${row.rssMB.at50} / ${row.rssMB.at100} MB | ${row.rssMB.peak} MB | ${row.liveHeapAfterGcMB.before} / ${row.liveHeapAfterGcMB.at10} / ${row.liveHeapAfterGcMB.at50} / ${row.liveHeapAfterGcMB.at100} MB | ${row.load} |`,
    );
  } finally {
    await app.close();
    await db0.cleanup();
  }
}

await main();
