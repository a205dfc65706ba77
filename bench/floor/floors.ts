/**
 * The database floor of each load scenario: the same SQL work, driven by pgbench on the same
 * Postgres and data as the server, so "req/s ÷ floor tps" says how much of what the database
 * alone can do the server delivers (measured in the same run: the machine's noise moves both).
 *
 * The read, the read + audit and `$book` run the hand-written scripts in bench/pgbench/ (one
 * file per floor, so a new statement swaps in by replacing its file). The searches run the
 * page statement the store itself sends for one sample query, captured as the search benchmark
 * captures it (bench/explain.ts), with the searched value replaced by a pgbench variable: the
 * floor is that very statement, not a copy that could drift from it.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Appointment, Resource } from 'fhir/r4.js';
import { buildAuditEvent, type AuditInput } from '../../src/audit/event.js';
import { canonicalJson } from '../../src/audit/chain.js';
import { storedAuditEvent } from '../../src/audit/writer.js';
import { openDatabase } from '../../src/db/database.js';
import { normaliseString } from '../../src/search/normalise.js';
import { indexRowsJson, searchIndexer } from '../../src/store/postgres/search-indexer.js';
import { fromRoot } from '../../src/paths.js';
import { searchStatements } from '../explain.js';
import { FAMILY_NAMES } from '../synthetic.js';
import { findPgbench, runPgbench, type FloorResult } from './pgbench.js';
import { postgresCpuByPid } from './postgres-cpu.js';

export type FloorName =
  'read' | 'read-audit' | 'name-search' | 'name-search-50' | 'patient-search' | 'book';

export interface Floor extends FloorResult {
  name: FloorName;
  what: string;
  /** CPU time of the database's Postgres backends per transaction, ms (postgres-cpu.ts). */
  dbCpuMs: number | undefined;
}

export interface FloorOptions {
  url: string;
  patients: number;
  encounters: number;
  seconds: number;
  /** Threads for pgbench's client side (`-j`). */
  threads: number;
}

/** The seeded Patients' ids (bench/load/run.ts seeds them so that pgbench can name them). */
export const patientId = (n: number) => `bench-p-${n}`;
/** Encounter n's patient: every fifth Patient has one while there are fewer than a fifth. */
export const encounterPatient = (n: number, patients: number) => (n * 5) % patients;

const BASE = 'http://bench/fhir';
const indexer = searchIndexer(BASE);
const INDEX_NAMES = ['strings', 'tokens', 'dates', 'refs', 'numbers', 'uris'] as const;

/** The name prefixes the server scenario asks for, normalised as the index stores them. */
export const namePrefixes = () => FAMILY_NAMES.map((name) => [...name].slice(0, 3).join(''));

/** An AuditEvent as the server stores it, and its index rows, as pgbench variables. */
function auditVariables(input: Omit<AuditInput, 'outcome' | 'subject' | 'who' | 'requestId'>) {
  const event = storedAuditEvent(
    buildAuditEvent({
      ...input,
      outcome: 'success',
      who: {},
      subject: 'bench',
      requestId: '4f9c1f1e-5b3a-4c55-9a34-0d9d2b1c7e11',
      address: '127.0.0.1',
    }),
  );
  const rows = indexRowsJson(indexer.extract(event));
  return {
    canonical: canonicalJson(event),
    event: JSON.stringify(event),
    ...Object.fromEntries(INDEX_NAMES.map((name, i) => [name, rows[i]!])),
  };
}

function bookVariables() {
  const appointment: Appointment = {
    resourceType: 'Appointment',
    id: 'floor',
    meta: { versionId: '1', lastUpdated: new Date().toISOString() },
    status: 'booked',
    start: '2060-01-01T09:00:00Z',
    end: '2060-01-01T09:30:00Z',
    participant: [
      { actor: { reference: `Patient/${patientId(0)}` }, status: 'accepted' },
      { actor: { reference: 'Practitioner/bench-dr-floor' }, status: 'accepted' },
    ],
  };
  const rows = indexRowsJson(indexer.extract(appointment as Resource));
  return {
    appointment: JSON.stringify(appointment),
    ...Object.fromEntries(INDEX_NAMES.map((name, i) => [`a${name}`, rows[i]!])),
    ...auditVariables({
      interaction: 'operation',
      entities: [
        { reference: 'Appointment/floor' },
        { reference: `Patient/${patientId(0)}`, role: 'patient' },
      ],
    }),
  };
}

/** A bind value as SQL text; pgbench would read `:name` in it as a variable, even quoted. */
function literal(value: unknown): string {
  if (typeof value === 'number') return String(value);
  const text = String(value);
  if (/:[A-Za-z_]/.test(text)) throw new Error(`pgbench would substitute into '${text}'`);
  return `'${text.replace(/'/g, "''")}'`;
}

/**
 * The store's page statement for `type?search` as a pgbench script: every bind parameter
 * inlined as a literal, except those equal to `value`, which become `expression`.
 */
async function searchScript(
  url: string,
  type: string,
  search: string,
  value: string,
  head: string[],
  expression: string,
): Promise<string> {
  const db = await openDatabase({ databaseUrl: url, dataDir: '' });
  try {
    const statements = await searchStatements(db, type, search, BASE);
    const page = statements.find((statement) => statement.role === 'page');
    if (!page) throw new Error(`${type}?${search} sent no page statement`);
    const sql = page.text.replace(/\$(\d+)/g, (_, n: string) => {
      const bound = page.params[Number(n) - 1];
      return bound === value ? `(${expression})` : literal(bound);
    });
    if (!sql.includes(expression)) throw new Error(`${type}?${search}: ${value} is not bound`);
    return [...head, `${sql.trim()};`, ''].join('\n');
  } finally {
    await db.close();
  }
}

interface Plan {
  name: FloorName;
  what: string;
  clients: number;
  script: () => Promise<string>;
  variables: () => Record<string, string | number>;
}

function plans(options: FloorOptions, dir: string): Plan[] {
  const fixed = (file: string) => async () => fromRoot('bench', 'pgbench', file);
  const written = (file: string, text: () => Promise<string>) => async () => {
    const path = join(dir, file);
    writeFileSync(path, await text());
    return path;
  };
  const common = { patients: options.patients, encounters: options.encounters };
  const prefixes = namePrefixes().map((p) => normaliseString(p));
  const nameScript = written('name-search.sql', () =>
    searchScript(
      options.url,
      'Patient',
      `name=${prefixes[0]}`,
      `${prefixes[0]}%`,
      [`\\set i random(1, ${prefixes.length})`],
      `(:prefixes::text[])[:i::int] || '%'`,
    ),
  );
  return [
    {
      name: 'read',
      what: 'read one resource row by primary key (bench/pgbench/read.sql)',
      clients: 50,
      script: fixed('read.sql'),
      variables: () => common,
    },
    {
      name: 'read-audit',
      what: 'read + append its AuditEvent in one statement, autocommit (bench/pgbench/read-audit.sql)',
      clients: 50,
      script: fixed('read-audit.sql'),
      variables: () => ({
        ...common,
        ...auditVariables({
          interaction: 'read',
          entities: [{ reference: `Patient/${patientId(0)}`, role: 'patient' }],
        }),
      }),
    },
    {
      name: 'name-search',
      what: "Patient?name=<prefix>: the store's page statement",
      clients: 4,
      script: nameScript,
      variables: () => ({
        ...common,
        prefixes: `{${prefixes.map((p) => `"${p}"`).join(',')}}`,
      }),
    },
    {
      // The same page at 50 clients: what concurrency alone does to its cost in Postgres.
      name: 'name-search-50',
      what: "Patient?name=<prefix>: the store's page statement, at 50 clients",
      clients: 50,
      script: nameScript,
      variables: () => ({
        ...common,
        prefixes: `{${prefixes.map((p) => `"${p}"`).join(',')}}`,
      }),
    },
    {
      name: 'patient-search',
      what: "Encounter?patient=<id>: the store's page statement",
      clients: 4,
      script: written('patient-search.sql', () =>
        searchScript(
          options.url,
          'Encounter',
          `patient=${patientId(0)}`,
          patientId(0),
          [
            `\\set e random(0, ${Math.max(0, options.encounters - 1)})`,
            `\\set p (:e * 5) % ${options.patients}`,
          ],
          `'bench-p-' || :p::text`,
        ),
      ),
      variables: () => common,
    },
    {
      name: 'book',
      what: '$book: locks, hold insert (EXCLUDE), Appointment write, audit; one transaction (bench/pgbench/book.sql)',
      clients: 50,
      script: fixed('book.sql'),
      variables: () => ({ ...common, ...bookVariables() }),
    },
  ];
}

/** Runs the floors (all, or those named) against the seeded database; none without pgbench. */
export async function measureFloors(
  options: FloorOptions,
  only?: FloorName[],
): Promise<Map<FloorName, Floor>> {
  const measured = new Map<FloorName, Floor>();
  const pgbench = findPgbench();
  if (!pgbench) return measured;
  const dir = mkdtempSync(join(tmpdir(), 'telefhir-floor-'));
  try {
    for (const plan of plans(options, dir)) {
      if (only && !only.includes(plan.name)) continue;
      const cpu = postgresCpuByPid(new URL(options.url).pathname.slice(1) || undefined);
      const result = await runPgbench(pgbench, {
        url: options.url,
        script: await plan.script(),
        clients: plan.clients,
        threads: options.threads,
        seconds: options.seconds,
        variables: plan.variables(),
      });
      const used = cpu.stop();
      const dbCpuMs =
        used !== undefined && result.transactions ? used / result.transactions : undefined;
      measured.set(plan.name, { name: plan.name, what: plan.what, ...result, dbCpuMs });
      console.log(
        `floor ${plan.name}: ${result.tps.toFixed(0)} tps at ${plan.clients} clients, p99 ${result.p99.toFixed(1)} ms`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return measured;
}
