/**
 * `npm run bench`: the server under load, each scenario reported as a ratio to a bare Fastify
 * baseline measured in the same run (these machines are shared and noisy). It starts its own
 * servers as child processes (the built dist/), seeds a database of its own (a fresh schema on
 * DATABASE_URL, else embedded PGlite), drives them with autocannon and writes the "Load"
 * section of bench/RESULTS.md. `--quick` runs every scenario once, briefly, for the test suite.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Resource } from 'fhir/r4.js';
import pg from 'pg';
import { fromRoot } from '../../src/paths.js';
import { openPostgresStore } from '../../src/store/postgres/open.js';
import { FAMILY_NAMES, seededRandom, syntheticPatient } from '../synthetic.js';
import { seed } from './seed.js';
import { BENCH_AUTH_ENV, benchToken } from '../auth.js';
import { percentile } from '../latency.js';
import { rssOf, runLoad, type LoadResult, type Scenario } from './load.js';
import { findWrk, runWrk } from './wrk.js';
import { measureFloors, type Floor, type FloorName } from '../floor/floors.js';

export interface LoadOptions {
  quick: boolean;
  patients: number;
  encounters: number;
  seconds: number;
  connections: number;
  /** Connections for the two searches (the targets are at 4). */
  searchConnections: number;
  databaseUrl: string | undefined;
  /** Drive the GET scenarios with wrk when it is there (else, and for the rest, autocannon). */
  wrk: boolean;
}

export interface Row extends Partial<LoadResult> {
  scenario: string;
  ratio?: number;
  /** The scenario's database floor (bench/floor/) in tps, and req/s divided by it. */
  floorTps?: number;
  floorRatio?: number;
  target: string;
  met: boolean | undefined;
  note?: string;
}

/** Untimed load before each timed scenario (load.ts). */
export const WARMUP_SECONDS = 3;
const ctx = { requestId: 'bench', access: 'unrestricted' as const };

export const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });

interface Database {
  url: string | undefined;
  dataDir: string;
  drop(): Promise<void>;
}

/** A database of this run's own: a schema on DATABASE_URL, else an empty PGlite directory. */
async function freshDatabase(databaseUrl: string | undefined): Promise<Database> {
  const dataDir = mkdtempSync(join(tmpdir(), 'telefhir-bench-'));
  if (!databaseUrl)
    return {
      url: undefined,
      dataDir,
      drop: async () => rmSync(dataDir, { recursive: true, force: true }),
    };
  const schema = `bench_load_${process.pid}`;
  const admin = new pg.Client({ connectionString: databaseUrl });
  await admin.connect();
  await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE; CREATE SCHEMA ${schema}`);
  await admin.end();
  const options = encodeURIComponent(`-c search_path=${schema}`);
  return {
    url: `${databaseUrl}${databaseUrl.includes('?') ? '&' : '?'}options=${options}`,
    dataDir,
    drop: async () => {
      const client = new pg.Client({ connectionString: databaseUrl });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await client.end();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

interface Server {
  base: string;
  child: ChildProcess;
  /** Milliseconds from spawn to the first 200 from /fhir/metadata. */
  coldStartMs: number;
  stop(): Promise<void>;
}

/** Both parts of a target: unknown (no floor) unless the other part already fails it. */
const meets = (floorPart: boolean | undefined, rest: boolean) =>
  floorPart === undefined ? (rest ? undefined : false) : floorPart && rest;

/** Cold starts per store in a full run (the median is reported). */
const COLD_STARTS = 5;

/** The median: for an odd count (COLD_STARTS), the middle sample itself. */
const median = (values: readonly number[]) =>
  percentile(
    [...values].sort((a, b) => a - b),
    50,
  );

function coldStartNote(ms: readonly number[]): string {
  if (ms.length === 1) return `${ms[0]!.toFixed(0)} ms`;
  const range = `${Math.min(...ms).toFixed(0)}–${Math.max(...ms).toFixed(0)}`;
  return `${median(ms).toFixed(0)} ms (median of ${ms.length}: ${range})`;
}

/** The built server (`node dist/src/main.js`) as production runs it. */
async function startServer(db: Database): Promise<Server> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}/fhir`;
  const started = performance.now();
  const child = spawn(process.execPath, [fromRoot('dist', 'src', 'main.js')], {
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      FHIR_BASE_URL: base,
      DATA_DIR: db.dataDir,
      ...(db.url ? { DATABASE_URL: db.url } : { DATABASE_URL: '' }),
      ...BENCH_AUTH_ENV,
      LOG_LEVEL: 'warn',
      NODE_ENV: 'development',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  for (;;) {
    if (child.exitCode !== null) throw new Error('the server exited during start-up');
    try {
      const res = await fetch(`${base}/metadata`);
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return {
    base,
    child,
    coldStartMs: performance.now() - started,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

async function startBaseline(patient: Resource): Promise<{ base: string; stop(): Promise<void> }> {
  const port = await freePort();
  const child = fork(fromRoot('dist', 'bench', 'bench', 'load', 'baseline.js'), [], {
    env: { ...process.env, PORT: String(port), BASELINE_PATIENT: JSON.stringify(patient) },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  await new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve());
    child.once('exit', () => reject(new Error('the baseline server exited')));
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    base: `http://127.0.0.1:${port}/fhir`,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

const bookBody = (patient: string, practitioner: string, extra: object[]) =>
  JSON.stringify({
    resourceType: 'Parameters',
    parameter: [
      { name: 'patient', valueReference: { reference: `Patient/${patient}` } },
      { name: 'practitioner', valueReference: { reference: `Practitioner/${practitioner}` } },
      ...extra,
    ],
  });

/** 200 bookings of one Slot at once: exactly one may succeed. */
async function contention(base: string, auth: string, patients: string[], attempts: number) {
  const started = performance.now();
  const results = await Promise.all(
    Array.from({ length: attempts }, (_, i) =>
      fetch(`${base}/Appointment/$book`, {
        method: 'POST',
        headers: { authorization: auth, 'content-type': 'application/fhir+json' },
        body: bookBody(patients[i % patients.length]!, 'bench-dr-slot', [
          { name: 'slot', valueReference: { reference: 'Slot/bench-slot' } },
        ]),
      }).then((res) => res.status),
    ),
  );
  const counts: Record<number, number> = {};
  for (const status of results) counts[status] = (counts[status] ?? 0) + 1;
  return { counts, ms: performance.now() - started };
}

/**
 * The seeded tables vacuumed and checkpointed, with fresh statistics for the planner, and the
 * sequence the `$book` floor numbers bookings by: the scenarios and floors measure the
 * steady state, not autovacuum and checkpoints catching up with the bulk load of 100 000
 * Patients (~1 million index rows) while they run.
 */
async function prepareFloors(url: string) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('VACUUM (ANALYZE)');
    // The seeding's dirty pages written out now, not by a checkpoint inside a scenario (a
    // superuser's or pg_checkpoint's right; a bench role without it measures with them).
    await client.query('CHECKPOINT').catch(() => undefined);
    await client.query('CREATE SEQUENCE IF NOT EXISTS bench_floor_book');
  } finally {
    await client.end();
  }
}

export async function runLoadBenchmarks(
  options: LoadOptions,
): Promise<{ rows: Row[]; notes: string[]; floors: Map<FloorName, Floor> }> {
  const rows: Row[] = [];
  const notes: string[] = [];
  let floors = new Map<FloorName, Floor>();
  const rng = seededRandom(11);

  // Cold start on an empty embedded database (migrations included), then on Postgres; one
  // start is one sample of a noisy machine, so each is the median of several.
  const starts = options.quick ? 1 : COLD_STARTS;
  const embeddedMs: number[] = [];
  for (let i = 0; i < starts; i++) {
    const embedded = await freshDatabase(undefined);
    const cold = await startServer(embedded);
    await cold.stop();
    await embedded.drop();
    embeddedMs.push(cold.coldStartMs);
  }
  rows.push({
    scenario: 'cold start to first 200 /fhir/metadata (embedded PGlite, empty)',
    target: '< 4000 ms',
    met: median(embeddedMs) < 4000,
    note: coldStartNote(embeddedMs),
  });

  const db = await freshDatabase(options.databaseUrl);
  try {
    const store = await openPostgresStore({
      databaseUrl: db.url,
      dataDir: db.dataDir,
      baseUrl: 'http://bench/fhir',
    });
    const seedStarted = performance.now();
    const { patients, withEncounter } = await seed(store, options);
    const sample = await store.read('Patient', patients[0]!, ctx);
    await store.close();
    notes.push(
      `Seeded ${options.patients} Patients and ${options.encounters} Encounters through the store in ${((performance.now() - seedStarted) / 1000).toFixed(0)} s.`,
    );

    if (!options.quick) {
      notes.push(
        `Each load scenario (the baseline too) first runs ${WARMUP_SECONDS} s untimed, so the rows are a warmed-up server's.`,
      );
    }

    // The last start is the server the load runs against; the row is only for Postgres.
    const postgresMs: number[] = [];
    for (let i = 1; db.url && i < starts; i++) {
      const cold = await startServer(db);
      await cold.stop();
      postgresMs.push(cold.coldStartMs);
    }
    const server = await startServer(db);
    postgresMs.push(server.coldStartMs);
    const baseline = await startBaseline(sample);
    try {
      // The floors after the server's start: it runs the workflow migrations ($book's ledger).
      if (db.url) {
        await prepareFloors(db.url);
        floors = await measureFloors({
          url: db.url,
          patients: options.patients,
          encounters: options.encounters,
          seconds: options.seconds,
          threads: 2,
        });
      } else notes.push('Embedded PGlite: no pgbench floor (it needs a Postgres server).');
      if (db.url) {
        rows.push({
          scenario: 'cold start to first 200 /fhir/metadata (Postgres, migrated)',
          target: '< 1000 ms',
          met: median(postgresMs) < 1000,
          note: coldStartNote(postgresMs),
        });
      }
      const auth = `Bearer ${benchToken()}`;
      const headers = {
        authorization: auth,
        'content-type': 'application/fhir+json',
        accept: 'application/fhir+json',
      };
      /** GET scenarios whose requests may repeat go to wrk when there is one (wrk.ts). */
      const load = (
        url: string,
        request: (n: number) => { method: string; path: string; body?: string },
        expect?: number[],
        connections = options.connections,
        repeatable = false,
      ) => {
        const scenario: Scenario = {
          url,
          connections,
          seconds: options.seconds,
          headers,
          request,
          expect,
          pid: server.child.pid,
          database: db.url ? new URL(db.url).pathname.slice(1) || undefined : undefined,
          warmupSeconds: options.quick ? 0 : WARMUP_SECONDS,
        };
        const wrk = repeatable && options.wrk ? findWrk() : undefined;
        return wrk ? runWrk(wrk, scenario) : runLoad(scenario);
      };

      const base = await load(
        baseline.base,
        () => ({ method: 'GET', path: `/fhir/Patient/${sample.id}` }),
        undefined,
        options.connections,
        true,
      );
      rows.push({
        scenario: 'baseline: bare Fastify, Patient from memory',
        ...base,
        ratio: 1,
        target: '-',
        met: undefined,
        rssMb: undefined,
        cpuMs: undefined,
        dbCpuMs: undefined,
      });
      const ratio = (result: LoadResult) => result.rps / base.rps;
      const floor = (name: FloorName, result: LoadResult) => {
        const tps = floors.get(name)?.tps;
        return { floorTps: tps, floorRatio: tps ? result.rps / tps : undefined };
      };
      /** A target on the ratio to a floor holds only when the floor was measured. */
      const floorMet = (name: FloorName, result: LoadResult, min: number) =>
        floors.has(name) ? result.rps / floors.get(name)!.tps >= min : undefined;

      const read = await load(
        server.base,
        (n) => ({ method: 'GET', path: `/fhir/Patient/${patients[n % patients.length]}` }),
        undefined,
        options.connections,
        true,
      );
      rows.push({
        scenario: 'GET /fhir/Patient/{id} (authenticated, audited)',
        ...read,
        ratio: ratio(read),
        ...floor('read-audit', read),
        target: '≥ 0.50 × floor (read + audit), p99 < 25 ms',
        met: meets(floorMet('read-audit', read, 0.5), read.p99 < 25),
      });

      const names = FAMILY_NAMES.map((name) => encodeURIComponent([...name].slice(0, 3).join('')));
      const byName = await load(
        server.base,
        (n) => ({
          method: 'GET',
          path: `/fhir/Patient?name=${names[(n * 7) % names.length]}`,
        }),
        undefined,
        options.searchConnections,
        true,
      );
      rows.push({
        scenario: `Patient?name=<prefix> (${options.patients} Patients)`,
        ...byName,
        ratio: ratio(byName),
        ...floor('name-search', byName),
        target: '≥ 0.30 × floor, p95 < 20 ms',
        met: meets(floorMet('name-search', byName, 0.3), byName.p95 < 20),
      });

      const byPatient = await load(
        server.base,
        (n) => ({
          method: 'GET',
          path: `/fhir/Encounter?patient=${withEncounter[(n * 13) % withEncounter.length]}`,
        }),
        undefined,
        options.searchConnections,
        true,
      );
      rows.push({
        scenario: `Encounter?patient=<id> (${options.encounters} Encounters)`,
        ...byPatient,
        ratio: ratio(byPatient),
        ...floor('patient-search', byPatient),
        target: '≥ 0.30 × floor, p95 < 20 ms',
        met: meets(floorMet('patient-search', byPatient, 0.3), byPatient.p95 < 20),
      });

      const create = await load(
        server.base,
        (n) => ({
          method: 'POST',
          path: '/fhir/Patient',
          body: JSON.stringify(syntheticPatient(rng, 1_000_000 + n)),
        }),
        [201],
      );
      rows.push({
        scenario: 'POST /fhir/Patient (validated, audited)',
        ...create,
        ratio: ratio(create),
        target: '-',
        met: undefined,
      });

      // Distinct times for one practitioner: every booking can succeed.
      const epoch = Date.UTC(2035, 0, 1);
      const book = await load(
        server.base,
        (n) => {
          const start = new Date(epoch + n * 31 * 60_000);
          const end = new Date(start.getTime() + 30 * 60_000);
          return {
            method: 'POST',
            path: '/fhir/Appointment/$book',
            body: bookBody(patients[n % patients.length]!, 'bench-dr', [
              { name: 'start', valueDateTime: start.toISOString() },
              { name: 'end', valueDateTime: end.toISOString() },
            ]),
          };
        },
        [201],
      );
      rows.push({
        scenario: '$book, distinct times',
        ...book,
        ratio: ratio(book),
        ...floor('book', book),
        target: '≥ 0.30 × floor',
        met: floorMet('book', book, 0.3),
      });

      const fight = await contention(server.base, auth, patients, options.quick ? 20 : 200);
      const wins = fight.counts[201] ?? 0;
      rows.push({
        scenario: `$book, ${options.quick ? 20 : 200} concurrent on one Slot`,
        target: 'exactly one 201',
        met: wins === 1 && Object.keys(fight.counts).every((s) => s === '201' || s === '409'),
        note: `statuses ${JSON.stringify(fight.counts)} in ${fight.ms.toFixed(0)} ms`,
      });
      const peak = Math.max(...rows.map((row) => row.rssMb ?? 0), rssOf(server.child.pid!) ?? 0);
      rows.push({
        scenario: 'server RSS under load (largest seen)',
        target: db.url ? '< 200 MB' : '(embedded: not targeted)',
        met: db.url ? peak < 200 : undefined,
        note: `${peak.toFixed(0)} MB`,
      });
    } finally {
      await baseline.stop();
      await server.stop();
    }
  } finally {
    await db.drop();
  }
  return { rows, notes, floors };
}
