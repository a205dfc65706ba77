/**
 * CPU time of this machine's Postgres processes while pgbench runs. pgbench's backends exit
 * when it does, taking their CPU time out of any sum read afterwards (load.ts's
 * postgresCpuTime suits the server's pooled connections, which stay); so each process is
 * sampled while it lives and its last sample counts. Up to one interval of a backend's last
 * work is missed: ~1 % of a 10 s run.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { cpuTimeOf } from '../load/load.js';

const INTERVAL_MS = 100;

/** A backend's process title: `postgres: <user> <database> <host> <activity>`. */
const servesDatabase = (pid: string, database: string) => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(` ${database} `);
  } catch {
    return false;
  }
};

function sample(into: Map<number, number>, database: string | undefined): boolean {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return false;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() !== 'postgres') continue;
    } catch {
      continue;
    }
    if (database && !servesDatabase(entry, database)) continue;
    const time = cpuTimeOf(Number(entry));
    if (time !== undefined) into.set(Number(entry), time);
  }
  return true;
}

/**
 * Starts sampling; `stop()` gives the CPU ms Postgres used since, or undefined off Linux. With
 * `database`, only its backends count: other work on a shared server stays out (and so do the
 * WAL writer and checkpointer, which serve every database).
 */
export function postgresCpuByPid(database?: string): { stop(): number | undefined } {
  const start = new Map<number, number>();
  const last = new Map<number, number>();
  const available = sample(start, database);
  const timer = setInterval(() => sample(last, database), INTERVAL_MS);
  return {
    stop() {
      clearInterval(timer);
      sample(last, database);
      if (!available) return undefined;
      let used = 0;
      for (const [pid, time] of last) used += time - (start.get(pid) ?? 0);
      return used;
    },
  };
}
