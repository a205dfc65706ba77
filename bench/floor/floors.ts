/**
 * The database floor of each load scenario: the same SQL work, driven by pgbench on the same
 * Postgres and data as the server, so "req/s ÷ floor tps" says how much of what the database
 * alone can do the server delivers (measured in the same run: the machine's noise moves both).
 *
 * The read runs bench/pgbench/read.sql. The read + audit runs the very statement
 * read-audited.ts sends (readAuditedStatement), and `$book` its hand-written SQL followed by
 * writer.ts's own append statements; each bind parameter becomes a pgbench variable, and the
 * event's id a fresh one per transaction. The searches run the page statement the store itself
 * sends for one sample query, captured as the search benchmark captures it (bench/explain.ts),
 * with the searched value replaced by a pgbench variable, and with the search's AuditEvent
 * appended by writer.ts's statement in the same statement (the page a CTE of it); the page
 * alone is a floor of its own (`*-page`). The floors are those statements, not copies that
 * could drift from them.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Appointment, AuditEvent, Resource } from 'fhir/r4.js';
import { buildAuditEvent, type AuditInput } from '../../src/audit/event.js';
import {
  APPEND_TO_FREE_LANE,
  APPEND_TO_LANE,
  appendParams,
  storedAuditEvent,
} from '../../src/audit/writer.js';
import { readAuditedStatement } from '../../src/store/postgres/read-audited.js';
import { openDatabase } from '../../src/db/database.js';
import { normaliseString } from '../../src/search/normalise.js';
import { indexRowsJson, searchIndexer } from '../../src/store/postgres/search-indexer.js';
import { fromRoot } from '../../src/paths.js';
import { searchStatements } from '../explain.js';
import { FAMILY_NAMES } from '../synthetic.js';
import { findPgbench, runPgbench, type FloorResult } from './pgbench.js';
import { postgresCpuByPid } from './postgres-cpu.js';

export type FloorName =
  | 'read'
  | 'read-audit'
  | 'read-audit-8'
  | 'name-search'
  | 'name-search-page'
  | 'name-search-50'
  | 'patient-search'
  | 'patient-search-page'
  | 'book';

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

/** An AuditEvent as the server stores it (storedAuditEvent), for the floors' appends. */
function storedEvent(input: Omit<AuditInput, 'outcome' | 'subject' | 'who' | 'requestId'>) {
  return storedAuditEvent(
    buildAuditEvent({
      ...input,
      outcome: 'success',
      who: {},
      subject: 'bench',
      requestId: '4f9c1f1e-5b3a-4c55-9a34-0d9d2b1c7e11',
      address: '127.0.0.1',
    }),
  );
}

/**
 * Turns a statement the server sends into pgbench text: each bind parameter `$n` becomes a
 * pgbench variable (`-D`, so with `-M prepared` a bind parameter again) or, where it holds one
 * of `marks`, an expression that puts the per-transaction value in its place (whole, inside a
 * text by replace(), or as an element of an array).
 */
class Bound {
  readonly variables: Record<string, string> = {};
  private count = 0;
  constructor(
    private readonly prefix: string,
    /** marker text -> SQL expression of the text that replaces it. */
    private readonly marks: [string, string][],
  ) {}

  private text(value: string): string {
    const whole = this.marks.find(([mark]) => mark === value);
    if (whole) return `(${whole[1]})`;
    let sql = this.variable(value);
    for (const [mark, expression] of this.marks) {
      if (value.includes(mark))
        sql = `replace(${sql}::text, ${this.variable(mark)}::text, ${expression})`;
    }
    return sql;
  }

  private variable(value: string): string {
    const name = `${this.prefix}${++this.count}`;
    this.variables[name] = value;
    return `:${name}`;
  }

  expression(value: unknown): string {
    if (typeof value === 'number') return ':lane';
    if (typeof value === 'string') return this.text(value);
    if (Array.isArray(value)) {
      const items = value.map((item) => (item === null ? null : String(item)));
      if (items.some((item) => this.marks.some(([mark]) => item?.includes(mark)))) {
        const expressions = items.map((item) => (item === null ? 'NULL' : this.text(item)));
        return `ARRAY[${expressions.join(', ')}]::text[]`;
      }
      const literal = items.map((item) => (item === null ? 'NULL' : JSON.stringify(item)));
      return this.variable(`{${literal.join(',')}}`);
    }
    throw new Error(`no pgbench form for the bind value ${String(value)}`);
  }

  /** `text` with every `$n` replaced by the expression of `params[n - 1]`. */
  statement(text: string, params: readonly unknown[]): string {
    return text.replace(/\$(\d+)/g, (_, n: string) => this.expression(params[Number(n) - 1]));
  }
}

/**
 * writer.ts's append of `event` as pgbench text: its free-lane statement and, when that
 * appended nothing (every lane held), its queue-on-lane-:lane statement.
 */
function appendScript(bound: Bound, event: AuditEvent): string[] {
  const params = appendParams([event], 0);
  return [
    `${bound.statement(APPEND_TO_FREE_LANE, params).trim()} \\gset f_`,
    '\\if :f_appended = 0',
    `${bound.statement(APPEND_TO_LANE, params).trim()};`,
    '\\endif',
  ];
}

/**
 * The read-audit floor's statements (appended to bench/pgbench/read-audit.sql's header): the
 * statement read-audited.ts sends for a read of Patient bench-p-:n under the bench token's
 * grant (system scope: every row visible), and the server's fallback when no lane was free.
 */
function readAuditScript(): { lines: string[]; variables: Record<string, string> } {
  const event = storedEvent({
    interaction: 'read',
    entities: [{ reference: `Patient/${patientId(0)}`, role: 'patient' }],
  });
  const bound = new Bound('ra', [
    [event.id!, `'floor-r-' || :u::text`],
    [patientId(0), `'bench-p-' || :n::text`],
  ]);
  const { text, values } = readAuditedStatement(
    'Patient',
    patientId(0),
    { kind: 'everything' },
    event,
  );
  const lines = [
    `${bound.statement(text, values).trim()} \\gset r_`,
    // Not appended (every lane held): the server's batcher appends the event (the seeded
    // Patients link to no other patient, so it is the event as built).
    '\\if :r_appended = 0',
    ...appendScript(bound, event),
    '\\endif',
    '',
  ];
  return { lines, variables: bound.variables };
}

/** The $book floor: bench/pgbench/book.sql, then its AuditEvent's append and COMMIT. */
function bookScript(): { text: string; variables: Record<string, string> } {
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
  const event = storedEvent({
    interaction: 'operation',
    entities: [
      { reference: 'Appointment/floor' },
      { reference: `Patient/${patientId(0)}`, role: 'patient' },
    ],
  });
  const bound = new Bound('ba', [[event.id!, `'floor-b-' || :k::text`]]);
  const head = readFileSync(fromRoot('bench', 'pgbench', 'book.sql'), 'utf8');
  return {
    text: [head.trimEnd(), ...appendScript(bound, event), 'COMMIT;', ''].join('\n'),
    variables: {
      appointment: JSON.stringify(appointment),
      ...Object.fromEntries(INDEX_NAMES.map((name, i) => [`a${name}`, rows[i]!])),
      ...bound.variables,
    },
  };
}

/**
 * A search floor with its AuditEvent: the page statement and writer.ts's free-lane append in
 * ONE statement (the page a CTE of the append), and the queue-on-a-lane fallback. The server
 * sends the page and then hands the event to the batcher; this is the least the database can
 * do for the same rows and the same append.
 */
function searchAuditScript(
  page: string,
  query: string,
): {
  lines: string[];
  variables: Record<string, string>;
} {
  const event = storedEvent({ interaction: 'search', entities: [], query });
  const bound = new Bound('sa', [[event.id!, `'floor-s-' || :u::text`]]);
  const [free, ...fallback] = appendScript(bound, event);
  const head = /^\s*WITH RECURSIVE/;
  const tail = /SELECT count\(\*\)::int AS appended FROM link \\gset f_$/;
  if (!head.test(free!) || !tail.test(free!)) throw new Error('writer.ts changed its append');
  const statement = free!
    .replace(head, `WITH RECURSIVE\n  page AS (${page}),`)
    .replace(
      tail,
      'SELECT (SELECT count(*) FROM page) AS found, (SELECT count(*)::int FROM link) AS appended \\gset f_',
    );
  return { lines: [statement, ...fallback, ''], variables: bound.variables };
}

/** A bind value as SQL text; pgbench would read `:name` in it as a variable, even quoted. */
function literal(value: unknown): string {
  if (typeof value === 'number') return String(value);
  const text = String(value);
  if (/:[A-Za-z_]/.test(text)) throw new Error(`pgbench would substitute into '${text}'`);
  return `'${text.replace(/'/g, "''")}'`;
}

/**
 * The store's page statement for `type?search` as SQL text: every bind parameter inlined as a
 * literal, except those equal to `value`, which become `expression`.
 */
async function pageStatement(
  url: string,
  type: string,
  search: string,
  value: string,
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
    return sql.trim();
  } finally {
    await db.close();
  }
}

interface Plan {
  name: FloorName;
  what: string;
  clients: number;
  /** The script's text and the variables it needs besides `patients` and `encounters`. */
  script: () => Promise<{ text: string; variables?: Record<string, string> }>;
}

function plans(options: FloorOptions): Plan[] {
  const fixed = (file: string) => async () => ({
    text: readFileSync(fromRoot('bench', 'pgbench', file), 'utf8'),
  });
  const prefixes = namePrefixes().map((p) => normaliseString(p));
  const prefixArray = `{${prefixes.map((p) => `"${p}"`).join(',')}}`;
  const nameHead = [
    `\\set i random(1, ${prefixes.length})`,
    '\\set u random(1, 9000000000000000000)',
    '\\set lane random(0, 7)',
  ];
  const namePage = () =>
    pageStatement(
      options.url,
      'Patient',
      `name=${prefixes[0]}`,
      `${prefixes[0]}%`,
      `(:prefixes::text[])[:i::int] || '%'`,
    );
  const patientHead = [
    `\\set e random(0, ${Math.max(0, options.encounters - 1)})`,
    `\\set p (:e * 5) % ${options.patients}`,
    '\\set u random(1, 9000000000000000000)',
    '\\set lane random(0, 7)',
  ];
  const patientPage = () =>
    pageStatement(
      options.url,
      'Encounter',
      `patient=${patientId(0)}`,
      patientId(0),
      `'bench-p-' || :p::text`,
    );
  /** The page alone, and the page with its AuditEvent appended in the same statement. */
  const pageOnly = (head: string[], page: () => Promise<string>) => async () => ({
    text: [...head, `${await page()};`, ''].join('\n'),
    variables: { prefixes: prefixArray },
  });
  const audited = (head: string[], page: () => Promise<string>, query: string) => async () => {
    const { lines, variables } = searchAuditScript(await page(), query);
    return {
      text: [...head, ...lines].join('\n'),
      variables: { prefixes: prefixArray, ...variables },
    };
  };
  const readAudit = async () => {
    const { lines, variables } = readAuditScript();
    const head = readFileSync(fromRoot('bench', 'pgbench', 'read-audit.sql'), 'utf8');
    return { text: [head.trimEnd(), ...lines].join('\n'), variables };
  };
  return [
    {
      name: 'read',
      what: 'read one resource row by primary key (bench/pgbench/read.sql)',
      clients: 50,
      script: fixed('read.sql'),
    },
    {
      name: 'read-audit',
      what: "read + its AuditEvent: read-audited.ts's own statement, autocommit (bench/pgbench/read-audit.sql)",
      clients: 50,
      script: readAudit,
    },
    {
      // As many clients as audit lanes: the statement without waiting for a held lane (at 50
      // the server hands the events to its batcher instead, read-audited.ts).
      name: 'read-audit-8',
      what: 'the same at 8 clients, one per audit lane',
      clients: 8,
      script: readAudit,
    },
    {
      name: 'name-search',
      what: "Patient?name=<prefix>: the store's page statement + its AuditEvent, one statement",
      clients: 4,
      script: audited(nameHead, namePage, `name=${prefixes[0]}`),
    },
    {
      name: 'name-search-page',
      what: "Patient?name=<prefix>: the store's page statement alone",
      clients: 4,
      script: pageOnly(nameHead, namePage),
    },
    {
      // The same at 50 clients: what concurrency alone does to its cost in Postgres.
      name: 'name-search-50',
      what: 'Patient?name=<prefix>: page + AuditEvent, one statement, at 50 clients',
      clients: 50,
      script: audited(nameHead, namePage, `name=${prefixes[0]}`),
    },
    {
      name: 'patient-search',
      what: "Encounter?patient=<id>: the store's page statement + its AuditEvent, one statement",
      clients: 4,
      script: audited(patientHead, patientPage, `patient=${patientId(0)}`),
    },
    {
      name: 'patient-search-page',
      what: "Encounter?patient=<id>: the store's page statement alone",
      clients: 4,
      script: pageOnly(patientHead, patientPage),
    },
    {
      name: 'book',
      what: "$book: locks, hold insert (EXCLUDE), Appointment write, writer.ts's append; one transaction (bench/pgbench/book.sql)",
      clients: 50,
      script: async () => bookScript(),
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
    for (const plan of plans(options)) {
      if (only && !only.includes(plan.name)) continue;
      const { text, variables } = await plan.script();
      const script = join(dir, `${plan.name}.sql`);
      writeFileSync(script, text);
      const cpu = postgresCpuByPid(new URL(options.url).pathname.slice(1) || undefined);
      const result = await runPgbench(pgbench, {
        url: options.url,
        script,
        clients: plan.clients,
        threads: options.threads,
        seconds: options.seconds,
        variables: { patients: options.patients, encounters: options.encounters, ...variables },
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
