import { mkdtempSync, writeFileSync, cpSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { openDatabase } from '../../src/db/database.js';
import { MIGRATIONS_DIR, migrate, readMigrations } from '../../src/db/migrate.js';
import { isolatedDatabase } from '../helpers.js';

async function freshDatabase(t: Test) {
  const where = await isolatedDatabase(t);
  const db = await openDatabase({ databaseUrl: where.databaseUrl, dataDir: where.dataDir ?? '' });
  t.teardown(() => db.close());
  return db;
}

t.test('migrations are numbered files applied once, in order', async (t) => {
  const db = await freshDatabase(t);
  const all = readMigrations().map((m) => m.version);
  t.ok(all.length > 0);
  t.same(await migrate(db), all, 'first run applies all');
  t.same(await migrate(db), [], 'second run applies none');
  const rows = await db.query<{ version: number }>(
    'SELECT version FROM schema_migrations ORDER BY version',
  );
  t.same(
    rows.map((r) => r.version),
    all,
  );
});

t.test('replicas migrating at once do not race', async (t) => {
  const where = await isolatedDatabase(t);
  if (!where.databaseUrl) {
    t.skip('needs DATABASE_URL: one embedded database has one connection, nothing races', () => {});
    return;
  }
  const a = await openDatabase({ databaseUrl: where.databaseUrl, dataDir: '' });
  const b = await openDatabase({ databaseUrl: where.databaseUrl, dataDir: '' });
  t.teardown(async () => {
    await a.close();
    await b.close();
  });
  const [ra, rb] = await Promise.all([migrate(a), migrate(b)]);
  t.same(
    [...ra, ...rb].sort(),
    readMigrations().map((m) => m.version),
    'each applied once',
  );
});

t.test('a failing migration leaves nothing half-applied', async (t) => {
  const db = await freshDatabase(t);
  const dir = mkdtempSync(join(tmpdir(), 'telefhir-mig-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(MIGRATIONS_DIR, dir, { recursive: true });
  writeFileSync(
    join(dir, '900_broken.sql'),
    'CREATE TABLE half_done (x int);\nSELECT no_such_function();',
  );
  await t.rejects(migrate(db, dir));
  const tables = await db.query(
    "SELECT 1 FROM information_schema.tables WHERE table_name IN ('half_done', 'resource_current') AND table_schema = current_schema()",
  );
  t.equal(tables.length, 0, 'the whole batch rolled back');
  t.same(
    await migrate(db),
    readMigrations().map((m) => m.version),
    'and can run again',
  );
});
