import type { AuditEvent, Patient } from 'fhir/r4.js';
import t from 'tap';
import { canonicalJson, GENESIS_HASH, hashEvent } from '../../src/audit/chain.js';
import { verifyChain } from '../../src/audit/verify.js';
import { appendAudit } from '../../src/audit/writer.js';
import type { Database, Sql } from '../../src/db/database.js';
import { PostgresStore } from '../../src/store/postgres/postgres-store.js';
import { searchIndexer } from '../../src/store/postgres/search-indexer.js';
import { officialExamples, TELEHEALTH_TYPES } from '../validation/r4-examples.js';
import { auditDatabase, readEvent } from './audit-db.js';

/** Pinned to lane 0, so a test's events form one chain it can reason about link by link. */
const append = (db: Database, n: number) =>
  db.transaction((tx) => appendAudit(tx, readEvent(n), { lane: 0 }));

interface Row {
  seq: string;
  id: string;
  prev_hash: string;
  hash: string;
  json: string;
}
const chainRows = (sql: Sql) =>
  sql.query<Row>(
    'SELECT seq::text AS seq, id, prev_hash, hash, json FROM audit_event ORDER BY seq',
  );

/** Tampering needs the table owner: switch triggers off, do the damage, switch them back on. */
const tamper = (db: Database, triggers: string[], statement: string, params: unknown[] = []) =>
  db.transaction(async (tx) => {
    for (const name of triggers) await tx.query(`ALTER TABLE audit_event DISABLE TRIGGER ${name}`);
    await tx.query(statement, params);
    for (const name of triggers) await tx.query(`ALTER TABLE audit_event ENABLE TRIGGER ${name}`);
  });
const DELETE_TRIGGERS = [
  'audit_event_purge_only',
  'audit_event_delete_row',
  'audit_event_prefix_only',
];

t.test('canonical JSON sorts keys at every depth and hashes the same content alike', async (t) => {
  t.equal(
    canonicalJson({ b: 1, a: [{ d: 'x', c: null }], e: undefined }),
    '{"a":[{"c":null,"d":"x"}],"b":1}',
  );
  const h = hashEvent(GENESIS_HASH, canonicalJson({ a: 1, b: 2 }));
  t.equal(h, hashEvent(GENESIS_HASH, canonicalJson({ b: 2, a: 1 })));
  t.match(h, /^[0-9a-f]{64}$/);
  t.not(h, hashEvent('1'.repeat(64), canonicalJson({ a: 1, b: 2 })), 'the previous hash counts');
  t.throws(() => canonicalJson({ n: Number.NaN }));
});

t.test(
  'canonical JSON is JSON.stringify with sorted keys, for every official example',
  async (t) => {
    // The reference: what canonicalJson must keep giving, or every stored chain stops verifying.
    const sortedCopy = (_key: string, value: unknown) =>
      value && typeof value === 'object' && !Array.isArray(value)
        ? Object.fromEntries(
            Object.keys(value)
              .sort()
              .map((k) => [k, (value as Record<string, unknown>)[k]]),
          )
        : value;
    const reference = (value: unknown) => JSON.stringify(value, sortedCopy);
    const wide = Object.fromEntries(
      Array.from({ length: 40 }, (_, i) => [
        `k${(i * 17) % 40}`,
        i % 3 ? i : { z: [i], é: 'ü', A: 1 },
      ]),
    );
    t.equal(canonicalJson(wide), reference(wide), 'more keys than the insertion sort takes');
    t.equal(canonicalJson({ b: 1, B: 2, á: 3, a: 4, '': 5 }), '{"":5,"B":2,"a":4,"b":1,"á":3}');
    let compared = 0;
    for (const [, examples] of officialExamples(TELEHEALTH_TYPES)) {
      for (const { file, resource } of examples) {
        if (canonicalJson(resource) !== reference(resource)) t.fail(file);
        compared++;
      }
    }
    t.ok(compared > 100, `${compared} examples give the reference's text`);
  },
);

t.test('appends build a chain from the genesis hash, each link over the one before', async (t) => {
  const db = await auditDatabase(t);
  const written: AuditEvent[] = [];
  for (let n = 0; n < 3; n++) written.push(await append(db, n));
  t.same(written[0]!.meta, { versionId: '1', lastUpdated: written[0]!.meta!.lastUpdated });
  const rows = await chainRows(db);
  t.equal(rows.length, 3);
  t.equal(rows[0]!.prev_hash, GENESIS_HASH);
  rows.forEach((row, i) => {
    t.equal(row.id, written[i]!.id);
    t.equal(row.hash, hashEvent(row.prev_hash, canonicalJson(written[i])), `link ${i} hashes`);
    if (i > 0) t.equal(row.prev_hash, rows[i - 1]!.hash, `link ${i} points back`);
  });
  const [head] = await db.query<{ hash: string }>(
    'SELECT hash FROM audit_chain_head WHERE lane = 0',
  );
  t.equal(head!.hash, rows[2]!.hash, 'the head is the last link');
  t.same(
    rows.map((row) => JSON.parse(row.json) as AuditEvent),
    written,
    'each row serves its event as written',
  );
  const copies = await db.query(
    `SELECT 1 FROM resource_current WHERE resource_type = 'AuditEvent'
     UNION ALL SELECT 1 FROM resource_history WHERE resource_type = 'AuditEvent'
     UNION ALL SELECT 1 FROM idx_reference WHERE resource_type = 'AuditEvent'`,
  );
  t.equal(copies.length, 0, 'one row per event: no copies or index rows in the generic tables');
  t.same(await verifyChain(db), { ok: true, count: 3 });
});

t.test('20 concurrent appends make unbroken chains, one per lane', async (t) => {
  const db = await auditDatabase(t);
  await Promise.all(Array.from({ length: 20 }, (_, n) => append(db, n)));
  const rows = await db.query<{ lane: number; prev_hash: string }>(
    'SELECT lane, prev_hash FROM audit_event ORDER BY seq',
  );
  t.equal(rows.length, 20);
  t.equal(
    new Set(rows.map((r) => `${r.lane}:${r.prev_hash}`)).size,
    20,
    'no two links of a lane share a predecessor',
  );
  t.same(await verifyChain(db), { ok: true, count: 20 });
});

t.test('concurrent appends spread over lanes, each lane an unbroken chain', async (t) => {
  const db = await auditDatabase(t);
  // Transactions that stay open hold their lanes, so the next ones must take other lanes.
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  const holders = Array.from({ length: 3 }, (_, n) =>
    db.transaction(async (tx) => {
      await appendAudit(tx, readEvent(100 + n), { lane: 0 });
      await held;
    }),
  );
  if (db.kind === 'pg') {
    // Let the holders take their lanes before the others start (their rows aren't visible
    // until they commit, but their locks are).
    for (let i = 0; i < 100; i++) {
      const [row] = await db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
         WHERE c.relname = 'audit_chain_head' AND l.mode = 'RowShareLock'`,
      );
      if (row!.n >= 3) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
  // Four at a time: with three lanes held, a free lane always remains (when every lane is
  // busy an append queues on one, which could be a holder's).
  const others = (async () => {
    for (let batch = 0; batch < 5; batch++) {
      await Promise.all(
        Array.from({ length: 4 }, (_, n) =>
          db.transaction((tx) => appendAudit(tx, readEvent(batch * 4 + n))),
        ),
      );
    }
  })();
  if (db.kind === 'pg') {
    await others; // would hang if appends waited for the holders' lanes
    release();
  } else {
    release(); // PGlite runs one transaction at a time
    await others;
  }
  await Promise.all(holders);
  const rows = await db.query<{ lane: number; prev_hash: string }>(
    'SELECT lane, prev_hash FROM audit_event ORDER BY seq',
  );
  t.equal(rows.length, 23);
  if (db.kind === 'pg') {
    t.ok(new Set(rows.map((r) => r.lane)).size >= 3, 'busy lanes were skipped, not waited for');
  }
  t.equal(
    new Set(rows.map((r) => `${r.lane}:${r.prev_hash}`)).size,
    23,
    'no two links of a lane share a predecessor',
  );
  t.same(await verifyChain(db), { ok: true, count: 23 });
});

t.test('verify finds a removed row in any lane', async (t) => {
  const db = await auditDatabase(t);
  for (let n = 0; n < 3; n++) {
    await db.transaction((tx) => appendAudit(tx, readEvent(n), { lane: 5 }));
  }
  await append(db, 9);
  const lane5 = await db.query<{ seq: string }>(
    'SELECT seq::text AS seq FROM audit_event WHERE lane = 5 ORDER BY seq',
  );
  t.equal(lane5.length, 3);
  await tamper(db, DELETE_TRIGGERS, 'DELETE FROM audit_event WHERE seq = $1', [lane5[1]!.seq]);
  t.match(await verifyChain(db), {
    ok: false,
    brokenAt: { seq: lane5[2]!.seq, reason: /removed/ },
  });
});

t.test('an append that does not extend the head is refused by the database', async (t) => {
  const db = await auditDatabase(t);
  await append(db, 1);
  await t.rejects(
    db.query(
      `INSERT INTO audit_event (id, recorded, last_updated, lane, prev_hash, hash, patient, agent,
         entity, type, subtype, purpose_of_use, altid, address, json)
       VALUES ('fork', now(), now(), 0, $1, $1, '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}')`,
      [GENESIS_HASH],
    ),
    /does not extend the head of lane 0/,
  );
  await t.rejects(
    db.query('UPDATE audit_chain_head SET hash = $1', [GENESIS_HASH]),
    /head moves only/,
  );
});

t.test(
  'UPDATE, DELETE and TRUNCATE of audit_event and of its partitions are refused',
  async (t) => {
    const db = await auditDatabase(t);
    await append(db, 1);
    await t.rejects(db.query(`UPDATE audit_event SET json = '{}'`), /append-only/);
    await t.rejects(db.query(`UPDATE audit_event SET patient = '{}'`), /append-only/);
    await t.rejects(db.query('DELETE FROM audit_event'), /only by the retention purge/);
    await t.rejects(db.query('TRUNCATE audit_event'), /append-only/);
    // Aimed at the partition that holds the row, past the parent's statement triggers.
    const [{ partition } = { partition: '' }] = await db.query<{ partition: string }>(
      'SELECT tableoid::regclass::text AS partition FROM audit_event',
    );
    t.match(partition, /^audit_event_\d{4}_\d{2}$/, 'the row is in its month');
    await t.rejects(db.query(`UPDATE ${partition} SET json = '{}'`), /append-only/);
    await t.rejects(db.query(`DELETE FROM ${partition}`), /only by the retention purge/);
    await t.rejects(db.query(`TRUNCATE ${partition}`), /append-only/);
    await t.rejects(db.query('TRUNCATE audit_event_default'), /append-only/);
    await t.rejects(
      db.transaction(async (tx) => {
        // Even the purge flag doesn't open UPDATE, nor a DELETE that skips the anchor.
        await tx.query("SET LOCAL telefhir.audit_purge = 'on'");
        await tx.query(`UPDATE audit_event SET json = '{}'`);
      }),
      /append-only/,
    );
    await t.rejects(
      db.transaction(async (tx) => {
        await tx.query("SET LOCAL telefhir.audit_purge = 'on'");
        await tx.query('DELETE FROM audit_event');
      }),
      /exactly the chain of lane 0 up to its anchor/,
    );
    await t.rejects(
      db.transaction(async (tx) => {
        await tx.query("SET LOCAL telefhir.audit_purge = 'on'");
        await tx.query(`DELETE FROM ${partition}`);
      }),
      /exactly the chain of lane 0 up to its anchor/,
      'nor on a partition',
    );
    t.equal((await chainRows(db)).length, 1, 'the row is still there');
  },
);

t.test('the generic tables refuse AuditEvents; the store refuses AuditEvent writes', async (t) => {
  const db = await auditDatabase(t);
  const event = await append(db, 1);
  for (const table of ['resource_current', 'resource_history']) {
    await t.rejects(
      db.query(
        `INSERT INTO ${table} (resource_type, id, version_id, last_updated, ${
          table === 'resource_current' ? 'deleted' : 'method'
        }, content) VALUES ('AuditEvent', 'forged', 1, now(), ${
          table === 'resource_current' ? 'false' : "'POST'"
        }, '{}')`,
      ),
      /append-only/,
      `${table} INSERT`,
    );
  }
  const store = new PostgresStore(db, db, false, searchIndexer());
  const ctx = { requestId: 'r', access: 'unrestricted' as const };
  await t.rejects(
    store.update({ ...event, outcome: '12' } as AuditEvent, ctx),
    /append-only/,
    'store update',
  );
  await t.rejects(store.create({ resourceType: 'AuditEvent' } as AuditEvent, ctx), /append-only/);
  const patient = await store.create({ resourceType: 'Patient' } as Patient, ctx);
  t.match(
    await store.delete('Patient', patient.id!, ctx),
    { resourceType: 'Patient', id: patient.id },
    'other resources are written and deleted as usual',
  );
  t.same(await verifyChain(db), { ok: true, count: 1 });
});

t.test('verify names the exact row whose content was edited', async (t) => {
  const db = await auditDatabase(t);
  for (let n = 0; n < 5; n++) await append(db, n);
  const rows = await chainRows(db);
  const victim = rows[2]!;
  await tamper(
    db,
    ['audit_event_no_update', 'audit_event_no_update_row'],
    'UPDATE audit_event SET json = $1 WHERE seq = $2',
    [JSON.stringify({ ...(JSON.parse(victim.json) as AuditEvent), outcome: '8' }), victim.seq],
  );
  t.same(await verifyChain(db), {
    ok: false,
    count: 2,
    brokenAt: {
      seq: victim.seq,
      id: victim.id,
      reason: 'hash does not match the content: the row was altered',
    },
  });
});

t.test('verify notices a removed row, in the middle and at the end', async (t) => {
  const db = await auditDatabase(t);
  for (let n = 0; n < 4; n++) await append(db, n);
  const rows = await chainRows(db);
  await tamper(db, DELETE_TRIGGERS, 'DELETE FROM audit_event WHERE seq = $1', [rows[1]!.seq]);
  const middle = await verifyChain(db);
  t.match(middle, { ok: false, count: 1, brokenAt: { seq: rows[2]!.seq, reason: /removed/ } });

  const db2 = await auditDatabase(t);
  for (let n = 0; n < 3; n++) await append(db2, n);
  const rows2 = await chainRows(db2);
  await tamper(db2, DELETE_TRIGGERS, 'DELETE FROM audit_event WHERE seq = $1', [rows2[2]!.seq]);
  t.match(await verifyChain(db2), {
    ok: false,
    count: 2,
    brokenAt: { seq: rows2[2]!.seq, id: rows2[1]!.id, reason: /rows at the end were removed/ },
  });
});

t.test('a failing append rolls back the write it records (fail-closed)', async (t) => {
  const db = await auditDatabase(t);
  // A recorded time the database refuses (a date that isn't one): the append's statement fails.
  const broken = { ...readEvent(1), recorded: 'not-a-date' };
  await t.rejects(
    db.transaction(async (tx) => {
      const store = new PostgresStore(db, tx, true, searchIndexer());
      await store.update({ resourceType: 'Patient', id: 'p-1' } as Patient, {
        requestId: 'r',
        access: 'unrestricted',
      });
      await appendAudit(tx, broken);
    }),
  );
  const patients = await db.query("SELECT 1 FROM resource_current WHERE resource_type = 'Patient'");
  t.equal(patients.length, 0, 'the patient was not written');
  t.equal((await chainRows(db)).length, 0, 'nor the audit event');
  const heads = await db.query<{ hash: string }>('SELECT hash FROM audit_chain_head');
  t.ok(
    heads.every((head) => head.hash === GENESIS_HASH),
    'and no head moved',
  );
  await append(db, 2);
  t.same(await verifyChain(db), { ok: true, count: 1 }, 'the chain carries on');
});

t.test('verify notices a search column edited to hide an event from a search', async (t) => {
  const db = await auditDatabase(t);
  for (let n = 0; n < 3; n++) await append(db, n);
  const rows = await chainRows(db);
  await tamper(
    db,
    ['audit_event_no_update', 'audit_event_no_update_row'],
    `UPDATE audit_event SET patient = '{}' WHERE seq = $1`,
    [rows[1]!.seq],
  );
  t.match(await verifyChain(db), {
    ok: false,
    count: 1,
    brokenAt: { seq: rows[1]!.seq, reason: /searched columns differ from the content/ },
  });
});
