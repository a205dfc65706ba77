/**
 * Embedded PGlite has one connection. A top-level call from inside one of its own transactions
 * would wait on itself: it must fail at once instead. Other callers queue, each for at most the
 * lock timeout. (PGlite only, whatever DATABASE_URL says: the pg pool has no such limit.)
 */
import t from 'tap';
import { openDatabase } from '../../src/db/database.js';
import { tempDataDir } from '../helpers.js';

async function embedded(t: Parameters<typeof tempDataDir>[0], lockMs = 10_000) {
  const db = await openDatabase({
    databaseUrl: undefined,
    dataDir: tempDataDir(t),
    timeouts: { statementMs: 30_000, lockMs },
  });
  t.teardown(() => db.close());
  if (db.kind !== 'pglite') throw new Error('expected the embedded database');
  await db.exec('CREATE TABLE note (n integer PRIMARY KEY)');
  return db;
}

t.test('a top-level call from inside its own transaction fails at once', async (t) => {
  const db = await embedded(t);
  const started = Date.now();
  const seen = await db.transaction(async (tx) => {
    await tx.query('INSERT INTO note VALUES (1)');
    await t.rejects(db.query('SELECT 1'), /misuse: query\(\) on the top-level database/);
    await t.rejects(db.exec('SELECT 1'), /misuse: exec\(\)/);
    await t.rejects(
      db.transaction(async () => 'nested'),
      /misuse: transaction\(\).*Use the transaction's handle/,
    );
    // Also from deeper in the same async context: a callback, a promise chain.
    await t.rejects(
      new Promise((resolve, reject) =>
        setImmediate(() => db.query('SELECT 1').then(resolve, reject)),
      ),
      /misuse/,
    );
    return (await tx.query<{ n: number }>('SELECT n FROM note'))[0]?.n;
  });
  t.equal(seen, 1, "the transaction's own handle works, and it commits");
  t.ok(Date.now() - started < 5_000, 'no waiting');
  t.same(await db.query('SELECT n FROM note'), [{ n: 1 }], 'the top level works again after it');
});

t.test('concurrent callers (other contexts) queue behind a transaction', async (t) => {
  const db = await embedded(t);
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  const transaction = db.transaction(async (tx) => {
    await tx.query('INSERT INTO note VALUES (2)');
    await held;
  });
  await new Promise((resolve) => setTimeout(resolve, 20)); // the transaction has the connection
  const reader = db.query<{ n: number }>('SELECT n FROM note');
  let read = false;
  void reader.then(() => (read = true));
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.notOk(read, 'the reader waits while the transaction is open');
  release();
  await transaction;
  t.same(await reader, [{ n: 2 }], 'then runs, and sees what the transaction committed');
});

t.test('work a transaction started may use the database after it ended', async (t) => {
  const db = await embedded(t);
  let later!: Promise<unknown>;
  await db.transaction(async () => {
    later = new Promise((resolve, reject) =>
      setTimeout(() => db.query('SELECT 1 AS one').then(resolve, reject), 50),
    );
  });
  t.same(await later, [{ one: 1 }]);
});

t.test('a caller gives up after the lock timeout (55P03) and never runs', async (t) => {
  const db = await embedded(t, 150);
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  const transaction = db.transaction(() => held);
  await new Promise((resolve) => setTimeout(resolve, 20));
  const started = Date.now();
  const error = await db.query('INSERT INTO note VALUES (3)').then(
    () => undefined,
    (err: unknown) => err as { code?: string; message: string },
  );
  t.equal(error?.code, '55P03', 'lock_not_available, as Postgres says it');
  t.match(error?.message, /busy for longer than the lock timeout \(150 ms/);
  t.ok(Date.now() - started >= 140, 'after the timeout, not before');
  release();
  await transaction;
  t.same(await db.query('SELECT n FROM note'), [], 'the abandoned insert never ran');
});

t.test('the buffer pool is the configured size, 128 MB when unset', async (t) => {
  for (const [sharedBuffersMb, expected] of [
    [undefined, '128MB'],
    [16, '16MB'],
  ] as const) {
    const db = await openDatabase({
      databaseUrl: undefined,
      dataDir: tempDataDir(t),
      sharedBuffersMb,
    });
    t.teardown(() => db.close());
    const [row] = await db.query<{ shared_buffers: string }>('SHOW shared_buffers');
    t.equal(row?.shared_buffers, expected);
  }
});
