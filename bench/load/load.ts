/** One load scenario: autocannon against a URL, with every latency kept for true percentiles. */
import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';
import { percentile } from '../latency.js';

export interface LoadResult {
  connections: number;
  rps: number;
  p50: number;
  p95: number;
  p99: number;
  /** Largest resident set of the server process while the load ran, in MB. */
  rssMb: number | undefined;
  requests: number;
  /** Statuses other than the expected ones, counted by status. */
  unexpected: Record<string, number>;
}

export interface Scenario {
  url: string;
  connections: number;
  seconds: number;
  headers?: Record<string, string>;
  /** Each request's method, path and body, from its index. */
  request: (n: number) => { method: string; path: string; body?: string };
  /** Statuses that count as success (200 unless said). */
  expect?: number[];
  /** Server process to sample RSS of. */
  pid?: number;
  /**
   * Seconds of the same load, not timed, first: V8 compiles a hot path with TurboFan only
   * after it has run a while (~0.5 s of compile work per path on these machines), and a
   * long-running server has long since paid that.
   */
  warmupSeconds?: number;
}

/** VmRSS of a process, MB (Linux). */
export function rssOf(pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = /VmRSS:\s+(\d+)/.exec(status)?.[1];
    return kb ? Number(kb) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

export async function runLoad(scenario: Scenario): Promise<LoadResult> {
  let n = 0;
  if (scenario.warmupSeconds) {
    await autocannon({
      url: scenario.url,
      connections: scenario.connections,
      duration: scenario.warmupSeconds,
      timeout: 30,
      headers: scenario.headers,
      requests: [{ setupRequest: (request) => ({ ...request, ...scenario.request(n++) }) }],
    });
  }
  const times: number[] = [];
  const unexpected: Record<string, number> = {};
  const expect = new Set(scenario.expect ?? [200]);
  let rss: number | undefined;
  const sampler = scenario.pid
    ? setInterval(() => {
        const now = rssOf(scenario.pid!);
        if (now !== undefined) rss = Math.max(rss ?? 0, now);
      }, 200)
    : undefined;
  const instance = autocannon({
    url: scenario.url,
    connections: scenario.connections,
    duration: scenario.seconds,
    timeout: 30,
    headers: scenario.headers,
    requests: [
      {
        setupRequest: (request) => {
          const next = scenario.request(n++);
          return { ...request, ...next };
        },
      },
    ],
  });
  instance.on('response', (_client, status, _bytes, time) => {
    times.push(time);
    if (!expect.has(status)) unexpected[status] = (unexpected[status] ?? 0) + 1;
  });
  const result = await instance;
  if (sampler) clearInterval(sampler);
  times.sort((a, b) => a - b);
  return {
    connections: scenario.connections,
    rps: result.requests.total / Math.max(result.duration, 1e-9),
    p50: percentile(times, 50),
    p95: percentile(times, 95),
    p99: percentile(times, 99),
    rssMb: rss,
    requests: times.length,
    unexpected,
  };
}
