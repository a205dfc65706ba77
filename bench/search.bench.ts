/**
 * Search benchmark (issue 4): loads synthetic Patients and Encounters through the store's real
 * write path (so the index tables are filled as in production), then times searches over HTTP
 * and explains the SQL they issue. Writes the "Search (issue 4)" section of bench/RESULTS.md.
 *
 *   npm run bench:search                      # embedded PGlite in a temporary directory
 *   DATABASE_URL=postgres://... npm run bench:search -- --patients 20000 [--keep] [--no-write]
 *
 * With DATABASE_URL it works in a schema of its own (bench_<pid>), dropped at the end unless
 * --keep is given; without, in a temporary PGlite directory, removed unless --keep.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import type { Resource } from 'fhir/r4.js';
import pg from 'pg';
import { buildApp } from '../src/app.js';
import { loadConfig, type Config } from '../src/config.js';
import { fromRoot } from '../src/paths.js';
import { normaliseString } from '../src/search/normalise.js';
import { parseSearch } from '../src/search/parse.js';
import { openDatabase, type Database } from '../src/db/database.js';
import { migrate } from '../src/db/migrate.js';
import { PostgresStore } from '../src/store/postgres/postgres-store.js';
import { searchIndexer } from '../src/store/postgres/search-indexer.js';
import { BENCH_AUTH_ENV, benchToken } from './auth.js';
import { explain, searchStatements, type ExplainedStatement } from './explain.js';
import { measure, measureSerial, type LoadOptions } from './latency.js';
import { indexVerdict, writeResults, type Explained, type Row } from './results.js';
import {
  FAMILY_NAMES,
  pick,
  seededRandom,
  syntheticEncounter,
  syntheticPatient,
  type Random,
} from './synthetic.js';

const TARGET_MS = 20;
const INDEX_TABLES = [
  'idx_string',
  'idx_token',
  'idx_date',
  'idx_reference',
  'idx_number',
  'idx_uri',
];

const { values: args } = parseArgs({
  options: {
    patients: { type: 'string', default: '100000' },
    encounters: { type: 'string' }, // default: one for every fifth patient
    batch: { type: 'string', default: '500' },
    'load-concurrency': { type: 'string', default: '4' },
    warmup: { type: 'string', default: '20' },
    requests: { type: 'string', default: '300' },
    concurrency: { type: 'string', default: '4' },
    seed: { type: 'string', default: '4' },
    keep: { type: 'boolean', default: false },
    'no-write': { type: 'boolean', default: false },
    note: { type: 'string', multiple: true, default: [] },
    results: { type: 'string', default: fromRoot('bench', 'RESULTS.md') },
  },
});

function count(name: keyof typeof args, min = 0): number {
  const raw = args[name];
  const value = Number(raw);
  if (typeof raw !== 'string' || !Number.isSafeInteger(value) || value < min) {
    throw new Error(`--${name} must be an integer >= ${min} (got ${String(raw)})`);
  }
  return value;
}

const patients = count('patients', 1);
const encounters =
  args.encounters === undefined ? Math.max(1, Math.round(patients / 5)) : count('encounters', 1);
const batchSize = count('batch', 1);
const loadConcurrency = count('load-concurrency', 1);
const load: LoadOptions = {
  warmup: count('warmup'),
  requests: count('requests', 1),
  concurrency: count('concurrency', 1),
};
const rng = seededRandom(count('seed'));

/** A schema of our own on the DATABASE_URL server, or a temporary PGlite directory. */
async function isolatedDatabase(): Promise<{
  config: Partial<Config>;
  label: string;
  cleanup: () => Promise<void>;
}> {
  const url = process.env.DATABASE_URL;
  if (!url) {
    const dataDir = mkdtempSync(join(tmpdir(), 'telefhir-bench-'));
    return {
      config: { databaseUrl: undefined, dataDir },
      label: `PGlite in ${dataDir}`,
      cleanup: async () => {
        if (args.keep) console.log(`kept the PGlite data in ${dataDir}`);
        else rmSync(dataDir, { recursive: true, force: true });
      },
    };
  }
  const schema = `bench_${process.pid}`;
  const admin = async (sql: string) => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  await admin(`CREATE SCHEMA ${schema}`);
  const options = encodeURIComponent(`-c search_path=${schema}`);
  return {
    config: { databaseUrl: `${url}${url.includes('?') ? '&' : '?'}options=${options}` },
    label: `schema ${schema}`,
    cleanup: async () => {
      if (args.keep) console.log(`kept schema ${schema}`);
      else await admin(`DROP SCHEMA ${schema} CASCADE`);
    },
  };
}

/** Creates `total` resources in transactions of `batchSize`, `loadConcurrency` at a time. */
async function loadResources(
  store: PostgresStore,
  label: string,
  total: number,
  make: (n: number) => Resource,
): Promise<{ ids: string[]; seconds: number }> {
  const ids: string[] = new Array<string>(total);
  const started = performance.now();
  let nextBatch = 0;
  let done = 0;
  let reported = 0;
  const worker = async () => {
    while (nextBatch * batchSize < total) {
      const from = nextBatch++ * batchSize;
      const batch = Array.from({ length: Math.min(batchSize, total - from) }, (_, i) =>
        make(from + i),
      );
      await store.transaction(async (tx) => {
        for (let i = 0; i < batch.length; i++) {
          ids[from + i] = (
            await tx.create(batch[i]!, { requestId: 'bench', access: 'unrestricted' as const })
          ).id!;
        }
      });
      done += batch.length;
      if (done - reported >= total / 10 || done === total) {
        reported = done;
        const seconds = (performance.now() - started) / 1000;
        console.log(
          `  ${label}: ${done}/${total} (${(done / seconds).toFixed(0)}/s, ${seconds.toFixed(0)} s)`,
        );
      }
    }
  };
  await Promise.all(Array.from({ length: loadConcurrency }, worker));
  return { ids, seconds: (performance.now() - started) / 1000 };
}

/** A family-name prefix as a user would type it: the first three letters. */
const namePrefix = (random: Random) => [...pick(random, FAMILY_NAMES)].slice(0, 3).join('');

/** A date from 1930 to 2020, as a birthdate=ge value. */
function birthdateFrom(random: Random): string {
  const from = Date.UTC(1930, 0, 1);
  const to = Date.UTC(2020, 11, 31);
  return new Date(from + random() * (to - from)).toISOString().slice(0, 10);
}

async function main() {
  const database = await isolatedDatabase();
  const config: Config = {
    ...loadConfig({ ...process.env, ...BENCH_AUTH_ENV, LOG_LEVEL: 'silent', PORT: '0' }),
    ...database.config,
  };
  // The wiring of openPostgresStore, kept here so the bench also holds the Database itself
  // (for VACUUM ANALYZE and EXPLAIN, on PGlite too).
  let db: Database | undefined;
  let app: Awaited<ReturnType<typeof buildApp>> | undefined;
  try {
    db = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
    await migrate(db);
    const versionRow = await db.query<{ version: string }>('SELECT version()');
    const version = versionRow[0]?.version.split(' on ')[0] ?? 'unknown';
    const store = new PostgresStore(db, db, false, searchIndexer(config.baseUrl));
    app = await buildApp(config, { store });
    const storeLabel = `${db.kind === 'pg' ? version : `PGlite (${version})`}, ${database.label}`;
    console.log(`store: ${storeLabel}`);
    console.log(`loading ${patients} Patients and ${encounters} Encounters`);

    const loadStarted = performance.now();
    const loadedPatients = await loadResources(store, 'Patient', patients, (n) =>
      syntheticPatient(rng, n),
    );
    const patientIds = loadedPatients.ids;
    const subjects = Array.from({ length: encounters }, () => pick(rng, patientIds));
    const loadedEncounters = await loadResources(store, 'Encounter', encounters, (n) =>
      syntheticEncounter(rng, n, subjects[n]!),
    );
    const loadSeconds = (performance.now() - loadStarted) / 1000;
    const rate = (patients + encounters) / loadSeconds;
    console.log(
      `loaded ${patients + encounters} resources in ${loadSeconds.toFixed(0)} s (${rate.toFixed(0)}/s)`,
    );

    const analyzeStarted = performance.now();
    for (const table of ['resource_current', 'resource_history', ...INDEX_TABLES]) {
      await db.query(`VACUUM (ANALYZE) ${table}`);
    }
    const analyzeSeconds = (performance.now() - analyzeStarted) / 1000;
    console.log(`VACUUM (ANALYZE) in ${analyzeSeconds.toFixed(1)} s`);

    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as AddressInfo;
    const base = `http://127.0.0.1:${port}/fhir`;
    const auth = { authorization: `Bearer ${benchToken()}` };
    config.baseUrl = base; // links are built on it; point it at the port we got

    // One seeded stream of values per query, so every row asks the same sequence.
    // `explain`: the values whose plans are shown: a common and a rare prefix, a median and a
    // recent date.
    const queries: {
      label: string;
      type: string;
      search: (random: Random) => string;
      explain: string[];
    }[] = [
      {
        label: 'Patient?name=<3-letter family prefix>',
        type: 'Patient',
        search: (random) => `name=${encodeURIComponent(namePrefix(random))}`,
        explain: ['name=Mar', 'name=Bos'],
      },
      {
        label: 'Patient?birthdate=ge<date>&_count=20',
        type: 'Patient',
        search: (random) => `birthdate=ge${birthdateFrom(random)}&_count=20`,
        explain: ['birthdate=ge1975-07-01&_count=20', 'birthdate=ge2015-01-01&_count=20'],
      },
      {
        label: 'Encounter?patient=<patient with an encounter>',
        type: 'Encounter',
        search: (random) => `patient=${pick(random, subjects)}`,
        explain: [`patient=${subjects[0]}`],
      },
    ];

    // Untimed, so the first row doesn't pay for JIT compilation of the request path.
    for (const query of queries) {
      const random = seededRandom(1);
      await measure(
        () => `${base}/${query.type}?${query.search(random)}`,
        { ...load, warmup: 0, requests: 100 },
        auth,
      );
    }
    const loadBefore = loadavg()[0]!;
    const rows: Row[] = [];
    const ctx = { requestId: 'bench', access: 'unrestricted' as const };
    const report = (row: Row) => {
      const { latency: l, store: st } = row;
      // Timing error responses measures nothing: stop before writing a table of them.
      if (l.errors)
        throw new Error(`${row.query}: ${l.errors} responses were not 200: ${l.firstError}`);
      rows.push(row);
      console.log(
        `${row.query} _total=${row.total}: HTTP p50 ${l.p50.toFixed(1)} ms, p95 ${l.p95.toFixed(1)} ms, p99 ${l.p99.toFixed(1)} ms, ${l.rps.toFixed(0)} req/s; store (serial) p50 ${st.p50.toFixed(1)} ms, p95 ${st.p95.toFixed(1)} ms`,
      );
    };
    // The floor on this machine: a read, one primary-key lookup, through the same HTTP stack.
    const readId = (i: number) => patientIds[(i * 7919) % patientIds.length]!;
    report({
      query: 'baseline: Patient/<id> (read)',
      total: '-',
      latency: await measure((i) => `${base}/Patient/${readId(i)}`, load, auth),
      store: await measureSerial((i) => store.read('Patient', readId(i), ctx), load),
    });
    // `_total` spelled out both ways, and left out: what the server does by default.
    for (const total of ['accurate', 'none', 'omitted'] as const) {
      for (const query of queries) {
        // The same seeded sequence of values for every row, over HTTP and in the store.
        const random = seededRandom(7);
        const searches = Array.from(
          { length: load.warmup + load.requests },
          () => `${query.search(random)}${total === 'omitted' ? '' : `&_total=${total}`}`,
        );
        const parsed = searches.map((search) =>
          parseSearch(query.type, new URLSearchParams(search), { baseUrl: base, strict: true }),
        );
        report({
          query: query.label,
          total,
          latency: await measure((i) => `${base}/${query.type}?${searches[i]}`, load, auth),
          store: await measureSerial((i) => store.search(parsed[i]!, ctx), load),
        });
      }
    }

    const loadAfter = loadavg()[0]!;
    const explained: Explained[] = [];
    for (const query of queries) {
      for (const search of query.explain) {
        const label = `${query.type}?${search}`;
        const statements: ExplainedStatement[] = [];
        const counted = `${search}&_total=accurate`;
        for (const statement of await searchStatements(db, query.type, counted, base)) {
          statements.push(await explain(db, statement));
        }
        explained.push({ query: label, statements });
        console.log(`\n=== EXPLAIN ${label}`);
        for (const s of statements) {
          console.log(`--- ${s.role} query; idx_* index scan: ${indexVerdict(s)}\n${s.plan}`);
        }
      }
    }

    const notes = [...(args.note ?? [])];
    notes.push(
      `1-minute load average ${loadBefore.toFixed(2)} before the timed requests and ${loadAfter.toFixed(2)} after (${cpus().length} cores): anything else running on the machine shows up in the latencies.`,
      `Name prefixes are the first three letters of a family name drawn from ${FAMILY_NAMES.length} (the query value is normalised like the index: \`${namePrefix(seededRandom(7))}\` → \`${normaliseString(namePrefix(seededRandom(7)))}\`); birthdate=ge dates are uniform over 1930-2020, so they match about half the Patients on average; Encounter?patient picks among the Patients that have an Encounter.`,
    );
    if (args['no-write']) return;
    await writeResults(args.results!, {
      date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      store: storeLabel,
      patients,
      encounters,
      load: `through \`FhirStore.create\` (the write path: resource rows and index rows), in transactions of ${batchSize}, ${loadConcurrency} at a time: Patients ${(patients / loadedPatients.seconds).toFixed(0)}/s, Encounters ${(encounters / loadedEncounters.seconds).toFixed(0)}/s, ${patients + encounters} resources in ${loadSeconds.toFixed(0)} s (${rate.toFixed(0)} resources/s); then \`VACUUM (ANALYZE)\` of the resource and index tables (${analyzeSeconds.toFixed(1)} s)`,
      method: `over HTTP with Node's fetch (keep-alive) to the app on 127.0.0.1: per row ${load.warmup} warm-up requests, then ${load.requests} timed with ${load.concurrency} in flight; each request asks for a different value from the same seeded sequence. Default \`_count\` (20) unless stated.`,
      notes,
      rows,
      explained,
      targetMs: TARGET_MS,
    });
    console.log(`\nwrote ${args.results}`);
  } finally {
    if (app)
      await app.close(); // closes the store, and with it the database
    else await db?.close();
    await database.cleanup();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
