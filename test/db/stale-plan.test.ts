/**
 * Every statement with parameters is prepared on a Postgres server (src/db/statement-names.ts).
 * A prepared `SELECT *` whose table then gains a column is refused by Postgres on the connection
 * that prepared it ("cached plan must not change result type"): what happens to an old replica
 * while a new one migrates in a rolling deploy. The statement must still answer, with the new
 * column, and the connection that held the stale copy must not keep failing.
 */
import t, { type Test } from 'tap';
import { openDatabase, type Database } from '../../src/db/database.js';
import { isolatedDatabase } from '../helpers.js';

async function oneConnection(t: Test): Promise<Database> {
  const where = await isolatedDatabase(t);
  // One pooled connection: every statement below runs on the connection that prepared it.
  const db = await openDatabase({
    databaseUrl: where.databaseUrl,
    dataDir: where.dataDir ?? '',
    poolSize: 1,
  });
  t.teardown(() => db.close());
  await db.exec('CREATE TABLE thing (id text PRIMARY KEY, a text)');
  await db.query('INSERT INTO thing VALUES ($1, $2)', ['t1', 'one']);
  return db;
}

const SELECT = 'SELECT * FROM thing WHERE id = $1';

t.test('a prepared SELECT * answers after its table gains a column', async (t) => {
  const db = await oneConnection(t);
  t.same(await db.query(SELECT, ['t1']), [{ id: 't1', a: 'one' }], 'prepared and run');
  await db.exec("ALTER TABLE thing ADD COLUMN b text NOT NULL DEFAULT 'new'");
  t.same(await db.query(SELECT, ['t1']), [{ id: 't1', a: 'one', b: 'new' }], 'the new shape');
  t.same(await db.query(SELECT, ['t1']), [{ id: 't1', a: 'one', b: 'new' }], 'and again');
});

t.test('in a transaction it fails once, and the next transaction runs', async (t) => {
  const db = await oneConnection(t);
  await db.transaction((tx) => tx.query(SELECT, ['t1']));
  await db.exec('ALTER TABLE thing ALTER COLUMN a TYPE varchar(20)');
  const first = await db
    .transaction((tx) => tx.query(SELECT, ['t1']))
    .then(
      (rows) => ({ rows }),
      (err: Error) => ({ err }),
    );
  if (db.kind === 'pg') {
    // The transaction isn't retried (its work may be more than SQL): it fails, and its
    // connection, with the stale copy, is dropped.
    t.match(first, { err: { code: '0A000' } }, 'the first transaction saw the stale copy');
  } else {
    t.same(first, { rows: [{ id: 't1', a: 'one' }] }, 'PGlite prepares nothing: no stale copy');
  }
  t.same(
    await db.transaction((tx) => tx.query(SELECT, ['t1'])),
    [{ id: 't1', a: 'one' }],
    'the next transaction, on a new connection',
  );
  t.same(await db.query(SELECT, ['t1']), [{ id: 't1', a: 'one' }], 'outside one too');
});
