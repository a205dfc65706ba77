import { setFlagsFromString } from 'node:v8';

const FLAG = '--heap-growing-percent';

/**
 * Sets how far V8 lets the old generation grow past what survived its last full collection
 * (HEAP_GROWTH_PERCENT; 0 leaves V8's own heuristic). A request's objects live for the tens of
 * milliseconds it takes; under load that spans two scavenges, so they are promoted and the old
 * generation fills with garbage. V8's default factor (1.1× to 4×, larger the faster it has
 * been collecting) then lets the heap reach several times its ~45 MB of live data before a
 * full collection: 300 MB resident under 50 connections. A fixed 50 % keeps it near 180 MB for
 * more frequent, mostly concurrent, marking (bench/RESULTS.md).
 *
 * Set at start-up, before the app is loaded; V8 reads the flag each time it sizes the heap
 * after a collection. A `--heap-growing-percent` on node's own command line wins. Returns the
 * flag set, if any.
 */
export function applyHeapGrowth(
  percent: number,
  execArgv: readonly string[] = process.execArgv,
): string | undefined {
  if (percent === 0) return undefined;
  if (execArgv.some((arg) => arg === FLAG || arg.startsWith(`${FLAG}=`))) return undefined;
  const flag = `${FLAG}=${percent}`;
  setFlagsFromString(flag);
  return flag;
}
