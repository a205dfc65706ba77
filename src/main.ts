import { ConfigError, loadConfig } from './config.js';
import { applyHeapGrowth } from './heap.js';
import { closeWithin, FORCE_EXIT_AFTER_MS } from './http/shutdown.js';

async function main() {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`telefhir: invalid configuration: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  // Before the app is loaded, so the heap is sized this way from its first collections.
  applyHeapGrowth(config.heapGrowthPercent);
  const { buildApp } = await import('./app.js');
  const app = await buildApp(config);
  app.log.info(
    { store: config.databaseUrl ? 'postgres' : `embedded PGlite in ${config.dataDir}` },
    'store ready',
  );

  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) {
      // A second Ctrl-C: the operator is done waiting.
      app.log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    closing = true;
    app.log.info({ signal, graceMs: config.shutdownGraceMs }, 'shutting down: draining requests');
    // Whatever happens below, the process ends: a close that hangs past grace + this is cut.
    setTimeout(() => {
      app.log.error('shutdown did not finish: exiting anyway');
      process.exit(1);
    }, config.shutdownGraceMs + FORCE_EXIT_AFTER_MS).unref();
    closeWithin(app, config.shutdownGraceMs).then(
      (outcome) => {
        app.log.info({ outcome }, 'shut down');
        process.exit(outcome === 'drained' ? 0 : 1);
      },
      (err: unknown) => {
        app.log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));

  await app.listen({ port: config.port, host: config.host });
  app.log.info({ base: config.baseUrl }, 'telefhir listening');
}

main().catch((err) => {
  process.stderr.write(
    `telefhir: failed to start: ${err instanceof Error ? err.message : String(err)}\n`,
  );
  process.exit(1);
});
