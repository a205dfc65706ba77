/**
 * Embedded HealthLake keeps one database, DATA_DIR/healthlake. A DATA_DIR that also holds
 * DATA_DIR/pgdata (an earlier version's workflow and keys, or the embedded Postgres store's)
 * is refused at start with the reason, rather than left behind with what it holds.
 */
import { join } from 'node:path';
import t from 'tap';
import { buildApp } from '../../src/app.js';
import { ConfigError } from '../../src/config.js';
import { copyTestTemplate } from '../embedded-template.js';
import { testConfig } from '../helpers.js';
import { backWithHealthLake } from './harness.js';

t.test('a DATA_DIR with an earlier embedded database is refused, not abandoned', async (t) => {
  const config = await testConfig(t, {}, true); // embedded, whatever DATABASE_URL says
  await backWithHealthLake(t, config);
  const fresh = await buildApp(config);
  const ready = await fresh.inject({ method: 'GET', url: '/readyz' });
  await fresh.close();
  t.equal(ready.statusCode, 200, 'starts and is ready on a DATA_DIR with healthlake/ alone');
  await copyTestTemplate(join(config.dataDir, 'pgdata'), 'migrated');
  const refused = await buildApp(config).then(
    async (app) => {
      await app.close();
      return undefined;
    },
    (error: unknown) => error,
  );
  t.ok(refused instanceof ConfigError, 'a ConfigError');
  t.match((refused as Error).message, /pgdata\/.*SSNs/s, 'saying what is there and why it matters');
});
