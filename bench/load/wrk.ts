/**
 * One load scenario driven by wrk (C, one thread, HTTP/1.1 keep-alive) instead of autocannon,
 * for the scenarios whose requests can repeat (reads and searches): wrk's own CPU per request
 * is a fraction of autocannon's, and its latencies are timed outside a JavaScript event loop,
 * so on a 2-core machine that the client, the server and Postgres share, less of the client
 * shows up in the server's req/s and percentiles. The requests are the scenario's first
 * PATHS, cycled; wrk keeps every latency in a histogram and reports exact percentiles.
 * Debian's `wrk` is installed when missing and this process is root; without it, autocannon.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findOrInstall } from '../debian-tool.js';
import { measureServer, type LoadResult, type Scenario } from './load.js';

/** Distinct requests the script cycles through. */
const PATHS = 20_000;

let wrkPath: string | undefined | null = null;
/** wrk's binary, found or installed once per process; undefined when there is none. */
export function findWrk(): string | undefined {
  if (wrkPath === null) wrkPath = findOrInstall('wrk', 'wrk', 'autocannon drives every scenario');
  return wrkPath;
}

const luaString = (text: string) => JSON.stringify(text); // a JSON string is a valid Lua string here

/**
 * The script: each request the next path; every status counted (per thread, summed in done);
 * done prints one JSON line with the totals and the percentiles in µs.
 */
export function wrkScript(paths: readonly string[]): string {
  return `local paths = {${paths.map(luaString).join(',\n')}}
local n = 0
statuses = {}
threads = {}
function setup(thread) table.insert(threads, thread) end
request = function()
  n = n + 1
  return wrk.format("GET", paths[(n % #paths) + 1])
end
response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
done = function(summary, latency, requests)
  local counts = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      counts[#counts + 1] = string.format('"%d":%d', status, count)
    end
  end
  io.write(string.format('WRK-RESULT {"requests":%d,"duration_us":%d,"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d,"p50":%d,"p95":%d,"p99":%d,"statuses":{%s}}\\n',
    summary.requests, summary.duration, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.timeout, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), table.concat(counts, ",")))
end
`;
}

/**
 * CPU time of a process's threads so far, in ms, from /proc/<pid>/task/<tid>/schedstat (time on
 * a CPU in ns: /proc/<pid>/stat counts in 10 ms ticks, too coarse for wrk, which spends a few
 * ms in a short run). Undefined once the process is gone.
 */
export function onCpuMs(pid: number): number | undefined {
  try {
    let ns = 0;
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      ns += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
    }
    return Number.isFinite(ns) ? ns / 1e6 : undefined;
  } catch {
    return undefined;
  }
}

interface WrkOutput {
  requests: number;
  duration_us: number;
  connect_errors: number;
  read_errors: number;
  write_errors: number;
  timeouts: number;
  p50: number;
  p95: number;
  p99: number;
  statuses: Record<string, number>;
}

function wrk(
  binary: string,
  script: string,
  scenario: Scenario,
  seconds: number,
  onStart?: (pid: number) => void,
): Promise<{ output: WrkOutput; cpuMs: number | undefined }> {
  const args = ['-t', '1', '-c', String(scenario.connections), '-d', `${seconds}s`];
  args.push('--timeout', '30s', '-s', script);
  for (const [name, value] of Object.entries(scenario.headers ?? {}))
    args.push('-H', `${name}: ${value}`);
  args.push(scenario.url.replace(/\/fhir\/?$/, ''));
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    let cpuMs: number | undefined;
    // wrk's own CPU: sampled until it exits (the last ~50 ms of its summary aren't counted).
    const sampler = setInterval(() => {
      cpuMs = onCpuMs(child.pid!) ?? cpuMs;
    }, 50);
    if (child.pid) onStart?.(child.pid);
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.on('error', (error) => {
      clearInterval(sampler);
      reject(error);
    });
    child.on('exit', (code) => {
      clearInterval(sampler);
      const line = stdout.split('\n').find((l) => l.startsWith('WRK-RESULT '));
      if (code !== 0 || !line) return reject(new Error(`wrk exited ${code}: ${stdout}`));
      resolve({ output: JSON.parse(line.slice('WRK-RESULT '.length)) as WrkOutput, cpuMs });
    });
  });
}

export async function runWrk(binary: string, scenario: Scenario): Promise<LoadResult> {
  const dir = mkdtempSync(join(tmpdir(), 'telefhir-wrk-'));
  try {
    const script = join(dir, 'scenario.lua');
    const base = new URL(scenario.url).pathname.replace(/\/$/, '');
    const paths = Array.from({ length: PATHS }, (_, n) => {
      const request = scenario.request(n);
      if (request.method !== 'GET' || request.body !== undefined)
        throw new Error('wrk drives GET scenarios only');
      return request.path.startsWith(base) ? request.path : `${base}${request.path}`;
    });
    writeFileSync(script, wrkScript(paths));
    if (scenario.warmupSeconds) await wrk(binary, script, scenario, scenario.warmupSeconds);
    const server = measureServer(scenario);
    const { output, cpuMs } = await wrk(binary, script, scenario, scenario.seconds).finally(() =>
      server.stop(),
    );
    const expect = new Set((scenario.expect ?? [200]).map(String));
    const unexpected: Record<string, number> = {};
    for (const [status, count] of Object.entries(output.statuses))
      if (!expect.has(status)) unexpected[status] = count;
    const errors =
      output.connect_errors + output.read_errors + output.write_errors + output.timeouts;
    if (errors) unexpected['socket errors'] = errors;
    const requests = output.requests;
    return {
      tool: 'wrk',
      connections: scenario.connections,
      rps: requests / (output.duration_us / 1e6),
      p50: output.p50 / 1000,
      p95: output.p95 / 1000,
      p99: output.p99 / 1000,
      ...server.spent(requests),
      clientCpuMs: cpuMs !== undefined && requests > 0 ? cpuMs / requests : undefined,
      requests,
      unexpected,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
