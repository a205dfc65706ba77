/** One load scenario: autocannon against a URL, with every latency kept for true percentiles. */
import { readdirSync, readFileSync } from 'node:fs';
import autocannon from 'autocannon';
import { percentile } from '../latency.js';

export interface LoadResult {
  /** The load generator: autocannon in this process, or wrk (wrk.ts). */
  tool: 'autocannon' | 'wrk';
  connections: number;
  rps: number;
  p50: number;
  p95: number;
  p99: number;
  /** Largest resident set of the server process while the load ran, in MB. */
  rssMb: number | undefined;
  /**
   * The server process's CPU time (user + system) per answered request, in ms: what a request
   * costs it, less distorted than req/s by the client and the database sharing the cores.
   */
  cpuMs: number | undefined;
  /**
   * CPU time of the Postgres backends serving the bench's database per answered request, in
   * ms; undefined when none run here (embedded, or a remote server).
   */
  dbCpuMs: number | undefined;
  /** CPU time of the load generator (autocannon: this process; or wrk) per answered request, in ms. */
  clientCpuMs: number | undefined;
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
  /** The database the server uses: only its backends' CPU counts (undefined: every postgres). */
  database?: string;
  /**
   * Seconds of the same load, not timed, first: V8 compiles a hot path with TurboFan only
   * after it has run a while (~0.5 s of compile work per path on these machines), and a
   * long-running server has long since paid that.
   */
  warmupSeconds?: number;
}

/** User + system CPU time of a process so far, in ms (Linux; `/proc/<pid>/stat`). */
export function cpuTimeOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return Number.isFinite(ticks) ? (ticks * 1000) / CLOCK_TICKS_PER_SECOND : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Total CPU time so far of the processes named `postgres` on this machine, in ms (Linux); with
 * `database`, only the backends serving it (their process title names it), so other sessions
 * on a shared server don't count (nor do the WAL writer and checkpointer, which serve all).
 */
export function postgresCpuTime(database?: string): number | undefined {
  let total: number | undefined;
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return undefined;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let command: string;
    try {
      command = readFileSync(`/proc/${entry}/comm`, 'utf8').trim();
    } catch {
      continue; // gone meanwhile
    }
    if (command !== 'postgres') continue;
    // Postgres runs here: a database none of whose backends exist yet has used nothing so far
    // (the pool may open its connections after this sample; they count from zero after).
    total ??= 0;
    if (database) {
      try {
        // `postgres: <user> <database> <host> <activity>`
        if (!readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(` ${database} `)) continue;
      } catch {
        continue;
      }
    }
    const time = cpuTimeOf(Number(entry));
    if (time !== undefined) total = (total ?? 0) + time;
  }
  return total;
}

/** USER_HZ: Linux reports /proc CPU times in hundredths of a second on every architecture. */
const CLOCK_TICKS_PER_SECOND = 100;

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

/**
 * What the server and its database spend while a scenario runs: the server's largest resident
 * set, sampled every 200 ms until `stop`, and both processes' CPU time per answered request.
 */
export function measureServer(scenario: Scenario) {
  let rss: number | undefined;
  const sampler = scenario.pid
    ? setInterval(() => {
        const now = rssOf(scenario.pid!);
        if (now !== undefined) rss = Math.max(rss ?? 0, now);
      }, 200)
    : undefined;
  const cpuBefore = scenario.pid ? cpuTimeOf(scenario.pid) : undefined;
  const dbBefore = postgresCpuTime(scenario.database);
  let cpuAfter: number | undefined;
  let dbAfter: number | undefined;
  return {
    stop() {
      if (sampler) clearInterval(sampler);
      cpuAfter = scenario.pid ? cpuTimeOf(scenario.pid) : undefined;
      dbAfter = postgresCpuTime(scenario.database);
    },
    spent(requests: number): Pick<LoadResult, 'rssMb' | 'cpuMs' | 'dbCpuMs'> {
      const perRequest = (before: number | undefined, after: number | undefined) =>
        before !== undefined && after !== undefined && requests > 0
          ? (after - before) / requests
          : undefined;
      return {
        rssMb: rss,
        cpuMs: perRequest(cpuBefore, cpuAfter),
        dbCpuMs: perRequest(dbBefore, dbAfter),
      };
    },
  };
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
  const server = measureServer(scenario);
  const clientBefore = process.cpuUsage();
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
  const result = await Promise.resolve(instance).finally(() => server.stop());
  const client = process.cpuUsage(clientBefore);
  times.sort((a, b) => a - b);
  return {
    tool: 'autocannon',
    connections: scenario.connections,
    rps: result.requests.total / Math.max(result.duration, 1e-9),
    p50: percentile(times, 50),
    p95: percentile(times, 95),
    p99: percentile(times, 99),
    ...server.spent(times.length),
    clientCpuMs: times.length ? (client.user + client.system) / 1000 / times.length : undefined,
    requests: times.length,
    unexpected,
  };
}
