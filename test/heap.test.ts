import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import t from 'tap';
import { applyHeapGrowth } from '../src/heap.js';
import { fromRoot } from '../src/paths.js';

t.test('no flag for 0 (V8 decides) or when node was started with one', async (t) => {
  t.equal(applyHeapGrowth(0, []), undefined);
  t.equal(applyHeapGrowth(50, ['--heap-growing-percent=80']), undefined);
  t.equal(applyHeapGrowth(50, ['--heap-growing-percent', '80']), undefined);
});

/**
 * Peak heap of a child process that holds ~20 MB and keeps 50 "requests" of short-lived
 * objects in flight, as a loaded server does, after applyHeapGrowth(percent) at run time.
 */
function peakHeapMb(percent: number): number {
  const heap = pathToFileURL(fromRoot('src', 'heap.ts')).href;
  const script = `
    import v8 from 'node:v8';
    const { applyHeapGrowth } = await import(${JSON.stringify(heap)});
    applyHeapGrowth(${percent}, []);
    const live = [];
    for (let i = 0; i < 100000; i++) live.push({ a: i, b: 'x' + i, c: [i, i + 1] });
    const inflight = [];
    let peak = 0;
    for (let round = 0; round < 1500; round++) {
      const req = [];
      for (let j = 0; j < 2000; j++) req.push({ k: j, s: 'req' + j + round, arr: [j] });
      inflight.push(req);
      if (inflight.length > 50) inflight.shift();
      if (round % 25 === 0) peak = Math.max(peak, v8.getHeapStatistics().total_heap_size);
    }
    process.stdout.write(String(peak / 1048576) + ' ' + live.length);
  `;
  const child = spawnSync(
    process.execPath,
    [...process.execArgv, '--input-type=module', '-e', script],
    { encoding: 'utf8' },
  );
  if (child.status !== 0) throw new Error(`child failed: ${child.stderr}`);
  return Number(child.stdout.split(' ')[0]);
}

t.test('set at run time, the growth factor bounds the heap of promoted garbage', async (t) => {
  const tight = peakHeapMb(50);
  const loose = peakHeapMb(300);
  t.ok(tight > 20, `the child held its live data (${tight.toFixed(0)} MB)`);
  t.ok(tight < loose * 0.75, `50 %: ${tight.toFixed(0)} MB peak; 300 %: ${loose.toFixed(0)} MB`);
});
