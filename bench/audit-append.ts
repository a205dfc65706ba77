/**
 * What one AuditEvent costs the database, and how many audited reads the store layer does per
 * second: `npx tsx bench/audit-append.ts` with DATABASE_URL set (Postgres only: PGlite has one
 * connection). It uses only the FhirStore API (create, read, audit), so the same script
 * measures any commit of the store: in a schema of its own, it
 *   1. appends EVENTS AuditEvents through `store.audit` (the batcher, group commit) from
 *      CONCURRENCY loops, and reports events/s, rows inserted and WAL bytes per event;
 *   2. runs audited reads (`store.read` of a Patient, then `store.audit` of its event, as the
 *      REST layer did) from CONCURRENCY loops for SECONDS, and reports reads/s and p99;
 *   3. where the store has it, the same with `store.readAudited` (read and audit in one
 *      statement, as `GET /fhir/{type}/{id}` now does).
 * Prints one JSON line.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Patient } from 'fhir/r4.js';
import pg from 'pg';
import { buildAuditEvent } from '../src/audit/event.js';
import { openPostgresStore } from '../src/store/postgres/open.js';

const CONCURRENCY = Number(process.env.CONCURRENCY ?? 50);
const EVENTS = Number(process.env.EVENTS ?? 5000);
const SECONDS = Number(process.env.SECONDS ?? 10);

const url = process.env.DATABASE_URL;
if (!url) throw new Error('DATABASE_URL is required');

const schema = `bench_audit_${process.pid}`;
const admin = new pg.Client({ connectionString: url });
await admin.connect();
await admin.query(`CREATE SCHEMA ${schema}`);
const scoped = `${url}${url.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`;

const event = (patient: string) =>
  buildAuditEvent({
    interaction: 'read',
    outcome: 'success',
    who: { reference: 'Practitioner/dr-1' },
    subject: 'user-1',
    clientId: 'bench',
    address: '127.0.0.1',
    requestId: randomUUID(),
    entities: [{ reference: `Patient/${patient}` }],
    patient: `Patient/${patient}`,
  });

async function loops(work: (i: number) => Promise<void>, until: () => boolean): Promise<number[]> {
  const latencies: number[] = [];
  let i = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (until()) {
        const start = performance.now();
        await work(i++);
        latencies.push(performance.now() - start);
      }
    }),
  );
  return latencies;
}

const p = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))] ?? 0;

try {
  const store = await openPostgresStore({
    databaseUrl: scoped,
    dataDir: '',
    baseUrl: 'http://bench/fhir',
  });
  const ctx = { requestId: 'bench', access: 'unrestricted' as const };
  const patients: string[] = [];
  for (let n = 0; n < 200; n++) {
    patients.push(
      (await store.create({ resourceType: 'Patient', gender: 'other' } as Patient, ctx)).id!,
    );
  }
  const inserted = async () =>
    Number(
      (
        await admin.query<{ n: string }>(
          `SELECT coalesce(sum(n_tup_ins), 0)::bigint AS n FROM pg_stat_user_tables WHERE schemaname = $1`,
          [schema],
        )
      ).rows[0]!.n,
    );
  const lsn = async () =>
    (await admin.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0]!.lsn;
  await admin.query('SELECT pg_stat_clear_snapshot()');

  // 1. appends
  const rows0 = await inserted();
  const wal0 = await lsn();
  const t0 = performance.now();
  let appended = 0;
  await loops(
    async (i) => {
      await store.audit(event(patients[i % patients.length]!));
    },
    () => appended++ < EVENTS,
  );
  const appendSeconds = (performance.now() - t0) / 1000;
  const wal1 = await lsn();
  await new Promise((resolve) => setTimeout(resolve, 1000)); // statistics are sent lazily
  const rows1 = await inserted();
  const walBytes = Number(
    (await admin.query<{ d: string }>('SELECT pg_wal_lsn_diff($1, $2)::bigint AS d', [wal1, wal0]))
      .rows[0]!.d,
  );

  // 2. audited reads
  const end = performance.now() + SECONDS * 1000;
  const latencies = await loops(
    async (i) => {
      const id = patients[i % patients.length]!;
      await store.read('Patient', id, ctx);
      await store.audit(event(id));
    },
    () => performance.now() < end,
  );
  latencies.sort((a, b) => a - b);

  // 3. the read and its audit in one statement, where the store has it
  let oneStatement: number[] = [];
  if (store.readAudited) {
    const until = performance.now() + SECONDS * 1000;
    oneStatement = await loops(
      async (i) => {
        const id = patients[i % patients.length]!;
        if (!(await store.readAudited!('Patient', id, ctx, event(id)))) throw new Error('absent');
      },
      () => performance.now() < until,
    );
    oneStatement.sort((a, b) => a - b);
  }
  console.log(
    JSON.stringify({
      concurrency: CONCURRENCY,
      appendsPerSecond: Math.round(EVENTS / appendSeconds),
      rowsPerEvent: Number(((rows1 - rows0) / EVENTS).toFixed(1)),
      walBytesPerEvent: Math.round(walBytes / EVENTS),
      auditedReadsPerSecond: Math.round(latencies.length / SECONDS),
      readP50ms: Number(p(latencies, 0.5).toFixed(1)),
      readP99ms: Number(p(latencies, 0.99).toFixed(1)),
      ...(oneStatement.length
        ? {
            oneStatementReadsPerSecond: Math.round(oneStatement.length / SECONDS),
            oneStatementP50ms: Number(p(oneStatement, 0.5).toFixed(1)),
            oneStatementP99ms: Number(p(oneStatement, 0.99).toFixed(1)),
          }
        : {}),
    }),
  );
  await store.close();
} finally {
  await admin.query(`DROP SCHEMA ${schema} CASCADE`);
  await admin.end();
}
