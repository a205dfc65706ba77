/**
 * `npm run bench`: every benchmark in bench/, one after another, each in a process of its own so
 * that one's heap and compiled code don't colour the next:
 *
 * - the load scenarios and cold starts (load/main.ts, "Load (issue 7)"),
 * - the search queries, explained, over seeded Patients (search.bench.ts, "Search (issue 4)"),
 * - the validator, in-process (validation.bench.ts, "Validation (issue 5)").
 *
 * Options: `--quick` (each briefly, to prove the harness works), `--no-write` (print, leave
 * RESULTS.md alone), `--patients N` and `--encounters N` (load and search), `--seconds S` and
 * `--connections C` (load). Stops at the first benchmark that fails, with its exit code.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const noWrite = argv.includes('--no-write') ? ['--no-write'] : [];

function value(name: string): string[] {
  const at = argv.indexOf(`--${name}`);
  return at < 0 || argv[at + 1] === undefined ? [] : [`--${name}`, argv[at + 1]!];
}

const benchmarks: [script: string, args: string[]][] = [
  ['./load/main.js', argv],
  [
    './search.bench.js',
    [
      ...(value('patients').length ? value('patients') : ['--patients', quick ? '200' : '100000']),
      ...(value('encounters').length ? value('encounters') : quick ? ['--encounters', '40'] : []),
      ...(quick ? ['--batch', '100', '--warmup', '2', '--requests', '10'] : []),
      ...noWrite,
    ],
  ],
  [
    './validation.bench.js',
    [...(quick ? ['--iterations', '200', '--warmup', '50', '--batches', '2'] : []), ...noWrite],
  ],
];

for (const [script, args] of benchmarks) {
  const path = fileURLToPath(new URL(script, import.meta.url));
  console.log(`\n# ${script} ${args.join(' ')}`);
  const code = await new Promise<number>((resolve, reject) => {
    const child = spawn(process.execPath, [path, ...args], { stdio: 'inherit' });
    child.once('error', reject);
    child.once('exit', (exitCode, signal) => resolve(exitCode ?? (signal ? 1 : 0)));
  });
  if (code !== 0) {
    console.error(`${script} failed (exit code ${code})`);
    process.exit(code);
  }
}
