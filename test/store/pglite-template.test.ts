/**
 * The embedded database's template (src/db/pglite-template.ts): the build makes it
 * once per set of migrations, and a new data directory starts as a copy of it instead of
 * running initdb. Always on PGlite, whatever DATABASE_URL says.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { openDatabase } from '../../src/db/database.js';
import { migrate, readMigrations, WORKFLOW_MIGRATIONS } from '../../src/db/migrate.js';
import { copyTemplate, templateIn, writeTemplate } from '../../src/db/pglite-template.js';
import { fromRoot } from '../../src/paths.js';
import { tempDataDir } from '../helpers.js';

t.test('a new data directory starts from the template, migrated', async (t) => {
  const templates = tempDataDir(t);
  mkdirSync(join(templates, 'pglite-template-0123'), { recursive: true });
  const template = await writeTemplate(templates);
  t.same(
    readdirSync(templates),
    [template.slice(templates.length + 1)],
    'one template; old ones go',
  );
  t.ok(existsSync(join(template, 'PG_VERSION')), 'an initialised database');
  t.equal(await writeTemplate(templates), template, 'made once per digest');

  const dataDir = tempDataDir(t);
  const db = await openDatabase({ databaseUrl: undefined, dataDir, templates });
  t.teardown(() => db.close());
  const versions = async (table: string) =>
    (await db.query<{ version: number }>(`SELECT version FROM ${table} ORDER BY version`)).map(
      (r) => r.version,
    );
  t.same(
    await versions('schema_migrations'),
    readMigrations().map((m) => m.version),
  );
  t.same(
    await versions('workflow_migrations'),
    readMigrations(WORKFLOW_MIGRATIONS).map((m) => m.version),
  );
  t.same(await migrate(db), [], 'nothing left to migrate');
  const ext = await db.query("SELECT 1 FROM pg_extension WHERE extname = 'btree_gist'");
  t.equal(ext.length, 1, 'with btree_gist');
  await db.exec('CREATE TABLE kept (x int); INSERT INTO kept VALUES (7)');
  await db.close();

  const again = await openDatabase({ databaseUrl: undefined, dataDir, templates });
  t.teardown(() => again.close());
  t.same(
    await again.query('SELECT x FROM kept'),
    [{ x: 7 }],
    'an existing database is never replaced',
  );
});

t.test('without a template made from these migrations, nothing is copied', async (t) => {
  const empty = tempDataDir(t);
  const target = join(tempDataDir(t), 'pgdata');
  t.equal(copyTemplate(target, empty), false);
  t.notOk(existsSync(target));
  const db = await openDatabase({
    databaseUrl: undefined,
    dataDir: tempDataDir(t),
    templates: empty,
  });
  t.teardown(() => db.close());
  t.same(await db.query('SELECT 1 AS one'), [{ one: 1 }], 'initdb instead');
});

t.test(
  'builds making the same template at once all succeed (tests build in parallel)',
  async (t) => {
    const templates = tempDataDir(t);
    // A partial of a process that is gone (a build killed midway) is cleared; one of a live
    // process (another build writing the same template now) is left to it.
    const dead = `${templateIn(templates)}.999999999.partial`;
    mkdirSync(join(dead, 'base'), { recursive: true });
    const made = await Promise.all(
      [0, 1, 2].map(
        () =>
          new Promise<{ code: number | null; out: string }>((resolve) => {
            const child = spawn(
              process.execPath,
              [
                '--import=tsx',
                '--input-type=module',
                '-e',
                `import { writeTemplate } from ${JSON.stringify(fromRoot('src', 'db', 'pglite-template.ts'))};
               await writeTemplate(${JSON.stringify(templates)});`,
              ],
              { stdio: ['ignore', 'pipe', 'pipe'] },
            );
            let out = '';
            child.stdout.on('data', (chunk) => (out += String(chunk)));
            child.stderr.on('data', (chunk) => (out += String(chunk)));
            child.on('exit', (code) => resolve({ code, out }));
          }),
      ),
    );
    for (const { code, out } of made) t.equal(code, 0, out.slice(-2000));
    t.same(
      readdirSync(templates),
      [templateIn(templates).slice(templates.length + 1)],
      'one template, no partials left',
    );
    t.ok(existsSync(join(templateIn(templates), 'PG_VERSION')), 'initialised');
  },
);
