/**
 * Safe Harbor de-identification throughput (src/export/safe-harbor.ts), in process: the
 * seeded population (src/seed/) of about 10,000 resources, each de-identified as the export
 * worker does, one at a time. Not a test (no timed assertions anywhere); run by hand:
 *
 *   npx tsx bench/safe-harbor.bench.ts [-- --patients 200 --rounds 5]
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { safeHarbor } from '../src/export/safe-harbor.js';
import { generatePopulation } from '../src/seed/generate.js';

const { values: args } = parseArgs({
  options: {
    patients: { type: 'string', default: '200' },
    rounds: { type: 'string', default: '5' },
  },
});
const population = generatePopulation({
  seed: 'bench',
  patients: Number(args.patients),
  anchor: new Date('2026-01-05T00:00:00Z'),
});
const bytes = population.reduce((n, r) => n + JSON.stringify(r).length, 0);

let started = performance.now();
const deidentifier = safeHarbor(Buffer.alloc(32, 1));
const setup = performance.now() - started;

const rates: number[] = [];
let kept = 0;
for (let round = 0; round < Number(args.rounds); round++) {
  started = performance.now();
  kept = 0;
  for (const resource of population) if (deidentifier.apply(resource)) kept++;
  rates.push(population.length / ((performance.now() - started) / 1000));
}
rates.sort((a, b) => a - b);
console.log(
  `${population.length} resources (${(bytes / 1e6).toFixed(1)} MB JSON), ${kept} kept; ` +
    `model built in ${setup.toFixed(0)} ms; ` +
    `median ${Math.round(rates[Math.floor(rates.length / 2)]!)} resources/s ` +
    `(${(1e6 / rates[Math.floor(rates.length / 2)]!) | 0} µs each), ` +
    `slowest round ${Math.round(rates[0]!)} /s`,
);
