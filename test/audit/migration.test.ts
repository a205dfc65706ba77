/**
 * 008_audit_event.sql moves the events a server wrote under the old schema (audit_log plus a
 * served copy, a history copy and index rows each) into audit_event without breaking a chain:
 * audit:verify passes after it, the events are served and searched from the new table, and
 * the generic tables hold no AuditEvent any more.
 */
import { cpSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditEvent } from 'fhir/r4.js';
import t, { type Test } from 'tap';
import { canonicalJson, GENESIS_HASH, hashEvent } from '../../src/audit/chain.js';
import { verifyChain } from '../../src/audit/verify.js';
import { appendAudit, storedAuditEvent } from '../../src/audit/writer.js';
import { openDatabase, type Sql } from '../../src/db/database.js';
import { migrate, MIGRATIONS_DIR } from '../../src/db/migrate.js';
import { parseSearch } from '../../src/search/parse.js';
import { AuditEventStore } from '../../src/store/postgres/audit-event-store.js';
import { isolatedDatabase } from '../helpers.js';
import { readEvent } from './audit-db.js';

/** The schema migrations up to and including `last`, in a directory of their own. */
function migrationsUpTo(t: Test, last: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'telefhir-migrations-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const file of readdirSync(MIGRATIONS_DIR)) {
    if (Number(file.slice(0, 3)) <= last) cpSync(join(MIGRATIONS_DIR, file), join(dir, file));
  }
  return dir;
}

/** What the old writer did for one event, in SQL: the link, the copies and an index row. */
async function oldAppend(sql: Sql, lane: number, prev: string, event: AuditEvent) {
  const hash = hashEvent(prev, canonicalJson(event));
  const content = JSON.stringify(event);
  await sql.query(
    `INSERT INTO audit_log (id, recorded, lane, prev_hash, hash, content)
     VALUES ($1, $2, $3, $4, $5, $6)`,
    [event.id, event.recorded, lane, prev, hash, content],
  );
  for (const table of ['resource_current', 'resource_history']) {
    await sql.query(
      `INSERT INTO ${table} (resource_type, id, version_id, last_updated, ${
        table === 'resource_current' ? 'deleted' : 'method'
      }, content) VALUES ('AuditEvent', $1, 1, $2, ${
        table === 'resource_current' ? 'false' : "'POST'"
      }, $3)`,
      [event.id, event.meta!.lastUpdated, content],
    );
  }
  await sql.query(
    `INSERT INTO idx_reference (resource_type, id, code, target_type, target_id, url)
     VALUES ('AuditEvent', $1, 'patient', 'Patient', 'p-1', 'Patient/p-1')`,
    [event.id],
  );
  return hash;
}

t.test('events written under 007 are moved into audit_event, chains intact', async (t) => {
  const where = await isolatedDatabase(t);
  const db = await openDatabase({ databaseUrl: where.databaseUrl, dataDir: where.dataDir ?? '' });
  t.teardown(() => db.close());
  t.same(await migrate(db, migrationsUpTo(t, 7)), [1, 2, 3, 4, 5, 6, 7]);

  const written: AuditEvent[] = [];
  await db.transaction(async (sql) => {
    const heads = new Map<number, string>();
    // An old event (2019) and recent ones, in two lanes.
    const recorded = ['2019-03-01T00:00:00.000Z', undefined, undefined, undefined];
    for (const [n, at] of recorded.entries()) {
      const event = storedAuditEvent({ ...readEvent(n), ...(at ? { recorded: at } : {}) });
      const lane = n % 2 === 0 ? 0 : 3;
      heads.set(lane, await oldAppend(sql, lane, heads.get(lane) ?? GENESIS_HASH, event));
      written.push(event);
    }
  });

  t.same(await migrate(db), [8], 'only 008 runs');
  t.same(await verifyChain(db), { ok: true, count: 4 }, 'audit:verify passes after it');
  const copies = await db.query(
    `SELECT 1 FROM resource_current WHERE resource_type = 'AuditEvent'
     UNION ALL SELECT 1 FROM resource_history WHERE resource_type = 'AuditEvent'
     UNION ALL SELECT 1 FROM idx_reference WHERE resource_type = 'AuditEvent'`,
  );
  t.equal(copies.length, 0, 'no AuditEvent left in the generic tables');
  const old = await db.query<{ partition: string }>(
    `SELECT tableoid::regclass::text AS partition FROM audit_event WHERE id = $1`,
    [written[0]!.id],
  );
  t.equal(old[0]?.partition, 'audit_event_2019_03', 'an old event is in its own month');

  const store = new AuditEventStore(db);
  const ctx = { requestId: 'r', access: 'unrestricted' as const };
  t.same(await store.read(written[2]!.id!, ctx), written[2], 'served as it was written');
  const found = await store.search(
    parseSearch('AuditEvent', new URLSearchParams('patient=p-1&_sort=date'), {
      baseUrl: '',
      strict: true,
    }),
    ctx,
  );
  t.same(
    found.matches.map((event) => event.id),
    written.map((event) => event.id),
    'searched by its columns, oldest first',
  );

  // The chains carry on from the moved heads.
  await db.transaction((tx) => appendAudit(tx, readEvent(9), { lane: 0 }));
  await db.transaction((tx) => appendAudit(tx, readEvent(10), { lane: 3 }));
  t.same(await verifyChain(db), { ok: true, count: 6 });
});
