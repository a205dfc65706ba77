/**
 * The fuzz suite's tools: a seeded PRNG (every run sends the same requests, so a failure
 * reproduces), hostile values, raw HTTP (paths and bodies sent byte for byte), and the one
 * property every response must have: no 5xx, and every error an OperationOutcome.
 *
 * FUZZ_SEED and FUZZ_SCALE (a multiplier on each file's case count) change the run, e.g.
 * `FUZZ_SEED=7 FUZZ_SCALE=10 npx tap test/fuzz/search.test.ts` for a longer hunt.
 */
import { request as httpRequest } from 'node:http';
import type { Test } from 'tap';
import { fhir, startTestServer, testToken, type Running } from '../helpers.js';
import { patient, practitioner, validResources } from '../fixtures.js';

export const SEED = Number(process.env.FUZZ_SEED ?? 0x7e1ef);
const SCALE = Number(process.env.FUZZ_SCALE ?? 1);

/** How many cases a file runs: its default times FUZZ_SCALE. */
export const cases = (n: number) => Math.max(1, Math.round(n * SCALE));

export interface Random {
  /** [0, 1) */
  next(): number;
  int(n: number): number;
  chance(p: number): boolean;
  pick<T>(items: readonly T[]): T;
}

/** mulberry32: small, fast and good enough to choose test inputs; `salt` keeps files apart. */
export function random(salt: number): Random {
  let state = (SEED ^ Math.imul(salt, 0x9e3779b1)) >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let x = state;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  return {
    next,
    int,
    chance: (p) => next() < p,
    pick: (items) => items[int(items.length)]!,
  };
}

/** Strings that have broken parsers, SQL builders and encoders somewhere. */
export const HOSTILE_STRINGS = [
  '',
  ' ',
  'a',
  'Zoë',
  '😀',
  '\u202eevil',
  '\ufeffbom',
  '\u0000',
  'a\u0000b',
  '\u0001',
  '\t\r\n',
  "' OR 1=1--",
  "'; DROP TABLE resources;--",
  '%',
  '_',
  '\\',
  '\\\\',
  '$1',
  '${x}',
  '.*',
  '(',
  '[',
  '{"a":1}',
  '<script>',
  '|',
  '||',
  '|x',
  'x|',
  'a|b|c',
  'a\\|b',
  ',',
  'a,,b',
  'a\\,b',
  '$',
  ':',
  '::',
  '..',
  '../..',
  '/',
  'null',
  'undefined',
  'true',
  'NaN',
  'Infinity',
  '-0',
  '0',
  '-1',
  '1e309',
  '-1e309',
  '1e-400',
  '99999999999999999999999999999',
  '0x10',
  '1.7976931348623157e308',
  '2024',
  '2024-13-45',
  '0000-00-00',
  '2024-02-30T25:61:61Z',
  '2024-01-01T00:00:00+99:00',
  '99999-01-01',
  '-2024-01-01',
  '2024-01-01T10:00',
  'T10:00:00Z',
  'Patient/',
  'Patient/../x',
  '/Patient/1',
  'Patient/x/_history/1',
  'http://evil.example/fhir/Patient/1',
  'urn:uuid:00000000-0000-0000-0000-000000000000',
  'Nope/1',
  'x'.repeat(65),
  'x'.repeat(3000),
];

const PREFIXES = ['eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb', 'ap', 'zz', 'GE'];

/** Values a parameter of each type takes; fuzzed values start from these half the time. */
const PLAUSIBLE: Record<string, string[]> = {
  string: ['Chalmers', 'Pe', 'zoë', 'Careful'],
  token: [
    'male',
    'female',
    'http://loinc.org|',
    '|12345',
    'urn:oid:1.2.36.146.595.217.0.1|12345',
    'booked',
    'final',
  ],
  date: ['2024', 'ge2020-01-01', 'lt2030-01-10T09:00:00Z', '1974-12-25', 'eq2024-01-10T09:00'],
  reference: [
    'Patient/p1',
    'p1',
    'Practitioner/dr1',
    'Patient/x1',
    'http://127.0.0.1/fhir/Patient/p1',
  ],
  quantity: ['5.4|http://unitsofmeasure.org|mg', 'gt5', 'ap100||kg', '5.4'],
  number: ['10', 'gt1.5', 'le0', '1e2'],
  uri: ['http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient', 'urn:x'],
};

/** A value for a parameter of `type` (any type when not given): plausible, hostile, or both. */
export function searchValue(r: Random, type?: string): string {
  const plausible = PLAUSIBLE[type ?? r.pick(Object.keys(PLAUSIBLE))] ?? PLAUSIBLE.string!;
  const good = r.pick(plausible);
  switch (r.int(6)) {
    case 0:
    case 1:
      return good;
    case 2:
      return `${good}${r.pick(HOSTILE_STRINGS)}`;
    case 3:
      return `${good},${r.pick(plausible)}`;
    default:
      return hostileValue(r);
  }
}

/** A value for any search parameter: hostile, prefixed, piped, or a list of those. */
export function hostileValue(r: Random): string {
  const base = r.chance(0.7) ? r.pick(HOSTILE_STRINGS) : randomText(r, 1 + r.int(20));
  switch (r.int(6)) {
    case 0:
      return `${r.pick(PREFIXES)}${base}`;
    case 1:
      return `${r.pick(HOSTILE_STRINGS)}|${base}`;
    case 2:
      return `${base}|${r.pick(HOSTILE_STRINGS)}|${r.pick(HOSTILE_STRINGS)}`;
    case 3:
      return `${base},${hostileValue(r)}`;
    default:
      return base;
  }
}

/** Printable ASCII, Latin-1, a few astral characters and the odd control character. */
export function randomText(r: Random, length: number): string {
  let text = '';
  for (let i = 0; i < length; i++) {
    const kind = r.int(10);
    if (kind < 6) text += String.fromCharCode(0x20 + r.int(0x5f));
    else if (kind < 8) text += String.fromCharCode(0xa0 + r.int(0x60));
    else if (kind < 9) text += String.fromCodePoint(0x1f600 + r.int(0x40));
    else text += String.fromCharCode(r.int(0x20));
  }
  return text;
}

/** Percent-encodes like a browser would, but now and then leaves raw or broken escapes in. */
export function encode(r: Random, text: string): string {
  if (r.chance(0.05)) return r.pick(['%', '%zz', '%ff%fe', '%c0%af', '%ed%a0%80', '%2']);
  return encodeURIComponent(text.replace(/[\ud800-\udfff]/g, '\ufffd'));
}

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/** One request with the path and body exactly as given. */
export function send(
  base: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string | Buffer,
): Promise<Reply> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { hostname: url.hostname, port: url.port, method, path: `${url.pathname}/${path}`, headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode!,
            headers: res.headers,
            text: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** The tokens every family is run with: full access, and a patient's narrow one. */
export const TOKENS = {
  admin: testToken({ role: 'ADMIN', sub: 'fuzz-admin' }, 3600),
  system: testToken({}, 3600),
  patient: testToken(
    {
      scope: 'patient/*.rs launch/patient',
      patient: 'p1',
      fhirUser: 'Patient/p1',
      role: 'PATIENT',
    },
    3600,
  ),
  provider: testToken(
    { scope: 'user/*.cruds', fhirUser: 'Practitioner/dr1', role: 'PROVIDER', sub: 'dr1' },
    3600,
  ),
};

export type Caller = keyof typeof TOKENS;
export const CALLERS = Object.keys(TOKENS) as Caller[];

/**
 * The property: below 500, and an error says why in an OperationOutcome. HEAD has no body.
 * Only failures are asserted one by one (with the request, to reproduce it); passes are
 * counted, so a run of thousands of cases stays readable.
 */
export class Verdicts {
  passed = 0;
  failed = 0;
  readonly statuses = new Map<number, number>();
  constructor(private readonly t: Test) {}

  check(reply: Reply, method: string, what: string, body?: string): void {
    this.statuses.set(reply.status, (this.statuses.get(reply.status) ?? 0) + 1);
    let problem: string | undefined;
    if (reply.status >= 500) problem = `status ${reply.status}`;
    else if (reply.status >= 400 && method !== 'HEAD') {
      let parsed: { resourceType?: unknown } | undefined;
      try {
        parsed = JSON.parse(reply.text) as { resourceType?: unknown };
      } catch {
        parsed = undefined;
      }
      if (parsed?.resourceType !== 'OperationOutcome') {
        problem = `status ${reply.status} without an OperationOutcome`;
      }
    }
    if (!problem) {
      this.passed++;
      return;
    }
    this.failed++;
    this.t.fail(`${problem}: ${method} ${what.slice(0, 300)}`, {
      body: body?.slice(0, 600),
      answer: reply.text.slice(0, 400),
    });
  }

  /** One assertion for all the passes, and what the statuses were (to see the fuzz reach). */
  done(): void {
    const statuses = [...this.statuses].sort(([a], [b]) => a - b);
    const seen = statuses.map(([status, n]) => `${status}×${n}`).join(' ');
    this.t.ok(this.failed === 0, `${this.passed} cases held the property (${seen})`);
  }
}

/** A server with a little of everything in it, so reads, searches and chains find something. */
export async function seededServer(t: Test): Promise<Running> {
  const running = await startTestServer(t);
  const { base } = running;
  const seed: [string, Record<string, unknown>][] = [
    ['Patient/p1', { ...patient(), id: 'p1' }],
    ['Patient/p2', { ...patient({ gender: 'female', birthDate: '1990-02-03' }), id: 'p2' }],
    ['Practitioner/dr1', { ...practitioner(), id: 'dr1' }],
    ...Object.entries(validResources).map(
      ([type, make]) =>
        [`${type}/x1`, { ...make(), id: 'x1' }] as [string, Record<string, unknown>],
    ),
  ];
  for (const [path, resource] of seed) {
    const res = await fhir(base, 'PUT', path, resource);
    if (res.status >= 300) throw new Error(`seeding ${path}: ${res.status} ${res.text}`);
  }
  return running;
}
