/**
 * The harness works end to end: `npm run bench -- --quick` builds, starts its servers, runs
 * every benchmark in bench/ (load, search, validation) once briefly and prints their results. Speed is not judged here (that is
 * what the benchmark itself reports); only that each scenario ran and the contention check
 * holds.
 */
import { execFileSync, spawn } from 'node:child_process';
import t from 'tap';
import { fromRoot } from '../../src/paths.js';

/** After the run: the bench installs wrk itself when it may (root on Debian). */
const haveWrk = () => {
  try {
    execFileSync('which', ['wrk']);
    return true;
  } catch {
    return false;
  }
};

t.test(
  'npm run bench -- --quick runs every benchmark and scenario',
  { timeout: 600_000 },
  async (t) => {
    const child = spawn('npm', ['run', 'bench', '--', '--quick', '--no-write'], {
      cwd: fromRoot(),
      env: { ...process.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (chunk) => (out += String(chunk)));
    child.stderr.on('data', (chunk) => (out += String(chunk)));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    t.equal(code, 0, out.slice(-3000));
    for (const scenario of [
      'cold start to first 200 /fhir/metadata (embedded PGlite, empty)',
      'baseline: bare Fastify',
      'GET /fhir/Patient/{id} (authenticated, audited)',
      'Patient?name=<prefix>',
      'Encounter?patient=<id>',
      'POST /fhir/Patient (validated, audited)',
      '$book, distinct times',
      'server RSS under load',
    ]) {
      t.match(out, `| ${scenario}`, scenario);
    }
    t.match(
      out,
      /\| \$book, 20 concurrent on one Slot \| .*statuses \{"201":1,"409":19\}.*\| yes \|/,
    );
    const baseline = /\| baseline: bare Fastify[^|]*\| \w+ \| \d+ \| (\d+) \|/.exec(out);
    t.ok(baseline && Number(baseline[1]) > 0, 'the baseline served requests');
    // p50, p95, p99, RSS, then CPU per request: the server's, Postgres's, the client's.
    const read =
      /\| GET \/fhir\/Patient\/\{id\} \(authenticated, audited\) \| (\w+) \| \d+ \| \d+ \|(?: [\d.]+ \|){4} ([\d.]+) \| ([\d.]+|-) \| ([\d.]+) \|/.exec(
        out,
      );
    // wrk drives the GET scenarios when it is installed (.ci/run installs it), else autocannon.
    t.equal(read?.[1], haveWrk() ? 'wrk' : 'autocannon', 'the load tool is reported');
    t.ok(
      read && Number(read[2]) > 0,
      `the read's server CPU per request was measured (${read?.[2]} ms)`,
    );
    t.ok(read && Number(read[4]) > 0, `and the client's (${read?.[4]} ms)`);
    if (process.env.DATABASE_URL) {
      // The suite's Postgres runs on this machine (README), so its processes are visible.
      t.ok(read && Number(read[3]) > 0, `and Postgres's (${read?.[3]} ms)`);
      // pgbench ran each floor, and the read is reported as a ratio to its floor.
      for (const floor of ['read', 'read-audit', 'name-search', 'patient-search', 'book']) {
        t.match(out, new RegExp(`\\| ${floor}: .* \\| \\d+ \\| [1-9]\\d* \\|`), `floor ${floor}`);
      }
      t.match(
        out,
        /\| GET \/fhir\/Patient\/\{id\} \(authenticated, audited\) \|(?: [^|]+ \|){10} \d+\.\d\d \| \d+ \|/,
        'the read has a ratio to its floor',
      );
    }
    // The search benchmark: every row answered (it stops on a non-200), and its plans explained.
    for (const total of ['accurate', 'none', 'omitted']) {
      t.match(
        out,
        new RegExp(`Patient\\?name=<3-letter family prefix> _total=${total}: HTTP p50 [\\d.]+ ms`),
        `search bench, _total=${total}`,
      );
    }
    t.match(out, /=== EXPLAIN Patient\?name=/, 'search plans explained');
    // The validation benchmark: a median for each layer.
    t.match(out, /'structure \+ invariants'\s+│ [\d.]+/, 'validation bench');
  },
);
