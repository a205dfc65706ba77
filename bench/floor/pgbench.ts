/**
 * pgbench, the database's own load generator: finding it (or installing Debian's
 * `postgresql-client`, which ships it), running one custom script under load, and reading its
 * per-transaction log for true percentiles (its summary gives only the mean).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { percentile } from '../latency.js';
import { findOrInstall } from '../debian-tool.js';

export interface FloorResult {
  clients: number;
  tps: number;
  p50: number;
  p95: number;
  p99: number;
  transactions: number;
  /** Transactions pgbench counted as failed (or clients it aborted). */
  failed: number;
}

export interface PgbenchRun {
  /** The database to load (a libpq connection string or URI, e.g. DATABASE_URL). */
  url: string;
  script: string;
  clients: number;
  threads: number;
  seconds: number;
  /** `-D name=value`: each becomes a bind parameter of the prepared statements. */
  variables: Record<string, string | number>;
  /** `-M`: prepared (the default; named statements) or extended (unnamed, planned each time). */
  mode?: 'prepared' | 'extended';
}

/**
 * The pgbench binary, installing `postgresql-client` with apt-get when it is missing and this
 * process may (root on Debian); undefined, with the reason printed, when there is none.
 */
export function findPgbench(log: (line: string) => void = console.log): string | undefined {
  return findOrInstall('pgbench', 'postgresql-client', 'no floor column', log);
}

/** Latencies in ms from pgbench's `-l` logs: `client tx time_us script epoch epoch_us` per line. */
export function readTransactionLog(dir: string): number[] {
  const times: number[] = [];
  for (const file of readdirSync(dir)) {
    for (const line of readFileSync(join(dir, file), 'utf8').split('\n')) {
      const fields = line.split(' ');
      // A failed transaction logs "failed" (or "skipped") instead of its time.
      const us = Number(fields[2]);
      if (fields.length >= 6 && Number.isFinite(us)) times.push(us / 1000);
    }
  }
  return times.sort((a, b) => a - b);
}

/** `pgbench -n -M prepared -c C -j J -T S -f script`, with the per-transaction log. */
export async function runPgbench(pgbench: string, run: PgbenchRun): Promise<FloorResult> {
  const logs = mkdtempSync(join(tmpdir(), 'telefhir-pgbench-'));
  const args = [
    '-n',
    '-M',
    run.mode ?? 'prepared',
    '-c',
    String(run.clients),
    '-j',
    String(Math.min(run.threads, run.clients)),
    '-T',
    String(run.seconds),
    '-f',
    run.script,
    '-l',
    '--log-prefix',
    join(logs, 'tx'),
    ...Object.entries(run.variables).flatMap(([name, value]) => ['-D', `${name}=${value}`]),
    run.url,
  ];
  try {
    const { code, out } = await new Promise<{ code: number | null; out: string }>(
      (resolve, reject) => {
        const child = spawn(pgbench, args, { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        child.stdout.on('data', (chunk) => (out += String(chunk)));
        child.stderr.on('data', (chunk) => (out += String(chunk)));
        child.once('error', reject);
        child.once('exit', (exitCode) => resolve({ code: exitCode, out }));
      },
    );
    const tps = /tps = ([\d.]+) \(without initial connection time\)/.exec(out);
    if (code !== 0 || !tps) throw new Error(`pgbench ${run.script} failed (${code}):\n${out}`);
    const times = readTransactionLog(logs);
    const failed = Number(/number of failed transactions: (\d+)/.exec(out)?.[1] ?? 0);
    return {
      clients: run.clients,
      tps: Number(tps[1]),
      p50: percentile(times, 50),
      p95: percentile(times, 95),
      p99: percentile(times, 99),
      transactions: times.length,
      failed,
    };
  } finally {
    rmSync(logs, { recursive: true, force: true });
  }
}
