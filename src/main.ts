import { ConfigError, loadConfig } from './config.js';
import { applyHeapGrowth } from './heap.js';

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
    if (closing) return;
    closing = true;
    app.log.info({ signal }, 'shutting down: draining requests');
    // close() stops accepting, lets in-flight requests finish, then runs onClose (the store).
    app.close().then(
      () => process.exit(0),
      (err) => {
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
