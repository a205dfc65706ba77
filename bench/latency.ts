import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';

export interface LoadOptions {
  warmup: number;
  requests: number;
  concurrency: number;
}

export interface Latency extends Percentiles {
  /** Completed requests per second over the timed phase. */
  rps: number;
  /** Responses other than 200 (they are timed too, and the first one is kept). */
  errors: number;
  firstError: string | undefined;
  /** Bundle.total and the number of entries of the first timed response, as a sanity check. */
  sample: { total: number | undefined; entries: number };
}

export interface Percentiles {
  p50: number;
  p95: number;
  p99: number;
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: number[], p: number): number {
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

export function percentiles(durations: number[]): Percentiles {
  const sorted = [...durations].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p95: percentile(sorted, 95), p99: percentile(sorted, 99) };
}

/**
 * Runs `task(i)` one at a time, `warmup` untimed and then `requests` timed: the cost of the
 * work itself, without HTTP and without anything else in flight.
 */
export async function measureSerial(
  task: (i: number) => Promise<unknown>,
  options: LoadOptions,
): Promise<Percentiles> {
  const durations: number[] = [];
  for (let i = 0; i < options.warmup + options.requests; i++) {
    const started = performance.now();
    await task(i);
    if (i >= options.warmup) durations.push(performance.now() - started);
  }
  return percentiles(durations);
}

/**
 * Sends `warmup` untimed GETs, then `requests` timed ones, at most `concurrency` in flight,
 * from a worker thread; `url(i)` gives the i-th URL, so each request may ask for something
 * different. `headers` go with every request (the bearer token).
 */
export function measure(
  url: (i: number) => string,
  options: LoadOptions,
  headers: Record<string, string> = {},
): Promise<Latency> {
  const urls = Array.from({ length: options.warmup + options.requests }, (_, i) => url(i));
  const worker = new Worker(new URL('./latency-worker.js', import.meta.url), {
    workerData: { urls, options, headers },
  });
  return new Promise((resolve, reject) => {
    worker.once('message', (latency: Latency) => resolve(latency));
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`load worker exited with code ${code}`)));
  });
}
