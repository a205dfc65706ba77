/**
 * Group commit of the AuditEvents written outside a transaction (src/audit/batcher.ts): every
 * caller's event is stored, searchable and chained before its promise resolves; concurrent
 * events share statements; an event the database can't take fails alone.
 */
import type { AuditEvent } from 'fhir/r4.js';
import t from 'tap';
import { AuditBatcher } from '../../src/audit/batcher.js';
import { verifyChain } from '../../src/audit/verify.js';
import { appendStoredAudits, storedAuditEvent } from '../../src/audit/writer.js';
import type { Database, Sql } from '../../src/db/database.js';
import { auditDatabase, readEvent } from './audit-db.js';

/** The real database, with its statements counted (append statements only). */
function counting(db: Database): Sql & { appends: number } {
  const sql = {
    appends: 0,
    query: <R>(text: string, params?: unknown[], prepare?: string) => {
      if (prepare?.startsWith('audit-append')) sql.appends++;
      return db.query<R>(text, params, prepare);
    },
    exec: (script: string) => db.exec(script),
  };
  return sql;
}

const count = async (sql: Sql, table: string) =>
  (await sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`))[0]!.n;

t.test('concurrent events share statements, and every one is chained and indexed', async (t) => {
  const db = await auditDatabase(t);
  const sql = counting(db);
  const batcher = new AuditBatcher(sql, { maxInFlight: 2, maxBatch: 16 });
  const events = Array.from({ length: 120 }, (_, n) => readEvent(n, `p-${n % 7}`));
  const stored = await Promise.all(events.map((event) => batcher.append(event)));

  t.equal(new Set(stored.map((event) => event.id)).size, 120, 'each event got its own id');
  t.ok(
    stored.every((event) => event.meta?.versionId === '1'),
    'each resolves with the event as stored',
  );
  t.ok(sql.appends < 120, `${sql.appends} append statements for 120 events`);
  t.ok(sql.appends >= 120 / 16, 'no batch is larger than maxBatch');
  t.equal(await count(db, 'audit_event'), 120, 'every event is in the chain, one row each');
  const verified = await verifyChain(db);
  t.same(verified, { ok: true, count: 120 }, 'the chain verifies, lane by lane');

  // Indexed as the single append indexes: each event findable by its request id and patient.
  const byRequest = await db.query<{ id: string }>(
    `SELECT id FROM audit_event WHERE request_id = 'req-37'`,
  );
  t.same(
    byRequest.map((row) => row.id),
    [stored[37]!.id],
  );
  const byPatient = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM audit_event WHERE patient @> ARRAY['p-3']`,
  );
  t.equal(byPatient[0]!.n, events.filter((_, n) => n % 7 === 3).length);
});

t.test('an event that fails takes only itself down', async (t) => {
  const db = await auditDatabase(t);
  const batcher = new AuditBatcher(db, { maxInFlight: 1 });
  // A non-finite number has no canonical JSON: that event can't be hashed, so can't be stored.
  const broken: AuditEvent = { ...readEvent(2), extension: [{ url: 'urn:x', valueDecimal: NaN }] };
  const results = await Promise.allSettled([
    batcher.append(readEvent(1)),
    batcher.append(broken),
    batcher.append(readEvent(3)),
  ]);
  t.same(
    results.map((result) => result.status),
    ['fulfilled', 'rejected', 'fulfilled'],
  );
  t.equal(await count(db, 'audit_event'), 2);
  t.same(await verifyChain(db), { ok: true, count: 2 });
});

t.test('drain waits for the events in flight', async (t) => {
  const db = await auditDatabase(t);
  const batcher = new AuditBatcher(db);
  await batcher.drain(); // nothing pending: at once
  const pending = Array.from({ length: 10 }, (_, n) => batcher.append(readEvent(n)));
  await batcher.drain();
  t.equal(await count(db, 'audit_event'), 10, 'all written by the time drain resolves');
  await Promise.all(pending);
});

t.test('a batch goes into one lane in its order; an empty batch writes nothing', async (t) => {
  const db = await auditDatabase(t);
  const events = [1, 2, 3].map((n) => storedAuditEvent(readEvent(n)));
  await appendStoredAudits(db, []);
  await appendStoredAudits(db, events, { lane: 5 });
  const rows = await db.query<{ id: string; lane: number }>(
    'SELECT id, lane FROM audit_event ORDER BY seq',
  );
  t.same(
    rows,
    events.map((event) => ({ id: event.id, lane: 5 })),
  );
  t.same(await verifyChain(db), { ok: true, count: 3 });
});
