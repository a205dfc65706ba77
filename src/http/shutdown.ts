import type { FastifyInstance } from 'fastify';

/** After the grace, how long the rest of closing (the store, its pool) may take before exit. */
export const FORCE_EXIT_AFTER_MS = 5_000;

/**
 * Closes the server within `graceMs`: it stops accepting at once and lets requests in flight
 * finish; when the grace runs out, the connections still open are cut, and closing goes on (the
 * onClose hooks close the blobs, the workflow and the store). Resolves with whether every
 * request finished ('drained') or some were cut ('cut').
 */
export async function closeWithin(
  app: FastifyInstance,
  graceMs: number,
): Promise<'drained' | 'cut'> {
  let cut = false;
  // close() drops the connections idle at that moment; one whose request finishes later stays
  // open as keep-alive, and would hold the drain to the grace. Reap those as they go idle.
  const reap = setInterval(() => app.server.closeIdleConnections(), 100);
  // The grace is for requests in flight, not for closing the store after them (a slow disk
  // under load): only connections still open when it elapses count as cut.
  const grace = setTimeout(() => {
    app.server.getConnections((err, open) => {
      if (!err && open === 0) return;
      cut = true;
      app.log.warn({ graceMs, open }, 'shutdown grace elapsed: cutting the requests in flight');
      app.server.closeAllConnections();
    });
  }, graceMs);
  try {
    await app.close();
  } finally {
    clearInterval(reap);
    clearTimeout(grace);
  }
  return cut ? 'cut' : 'drained';
}
