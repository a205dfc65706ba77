import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import { percentiles, type Latency, type LoadOptions } from './latency.js';

/**
 * The load generator, in a thread of its own so that the client's work (fetch, reading
 * bodies) doesn't queue on the server's event loop and show up as server latency.
 */
async function run(
  urls: string[],
  options: LoadOptions,
  headers: Record<string, string>,
): Promise<Latency> {
  const durations: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  let sample: Latency['sample'] | undefined;

  const one = async (url: string, timed: boolean) => {
    const started = performance.now();
    const response = await fetch(url, {
      headers: { ...headers, accept: 'application/fhir+json' },
    });
    const text = await response.text();
    const elapsed = performance.now() - started;
    if (!timed) return;
    durations.push(elapsed);
    if (response.status !== 200) {
      errors++;
      firstError ??= `${response.status} ${text.slice(0, 300)}`;
    } else if (!sample) {
      const bundle = JSON.parse(text) as { total?: number; entry?: unknown[] };
      sample = { total: bundle.total, entries: bundle.entry?.length ?? 0 };
    }
  };

  const phase = async (list: string[], timed: boolean) => {
    let next = 0;
    const worker = async () => {
      while (next < list.length) await one(list[next++]!, timed);
    };
    await Promise.all(Array.from({ length: Math.min(options.concurrency, list.length) }, worker));
  };

  await phase(urls.slice(0, options.warmup), false);
  const started = performance.now();
  await phase(urls.slice(options.warmup), true);
  const seconds = (performance.now() - started) / 1000;
  return {
    ...percentiles(durations),
    rps: durations.length / seconds,
    errors,
    firstError,
    sample: sample ?? { total: undefined, entries: 0 },
  };
}

const { urls, options, headers } = workerData as {
  urls: string[];
  options: LoadOptions;
  headers: Record<string, string>;
};
parentPort!.postMessage(await run(urls, options, headers));
