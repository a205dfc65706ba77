import type { AuditEvent } from 'fhir/r4.js';
import t from 'tap';
import { GENESIS_HASH } from '../../src/audit/chain.js';
import { buildAuditEvent } from '../../src/audit/event.js';
import { purgeAudit } from '../../src/audit/purge.js';
import { verifyChain } from '../../src/audit/verify.js';
import { appendAudit } from '../../src/audit/writer.js';
import type { Database } from '../../src/db/database.js';
import { AuditEventStore } from '../../src/store/postgres/audit-event-store.js';
import { auditDatabase } from './audit-db.js';

const CUTOFF = new Date('2020-01-01T00:00:00.000Z');

/** Lane 0 unless said: one chain, so which events form the purged prefix is predictable. */
const append = (db: Database, recorded: string, n: number, lane = 0) =>
  db.transaction((tx) =>
    appendAudit(
      tx,
      buildAuditEvent({
        interaction: 'read',
        outcome: 'success',
        who: { reference: 'Practitioner/dr-1' },
        subject: 'user-1',
        requestId: `req-${n}`,
        entities: [{ reference: `Patient/p-${n}` }],
        recorded: new Date(recorded),
      }),
      { lane },
    ),
  );

/** Three old events, then a new one, then an old one behind it (a replica's clock lagging). */
async function seed(db: Database): Promise<AuditEvent[]> {
  const recorded = [
    '2015-01-01T00:00:00.000Z',
    '2016-01-01T00:00:00.000Z',
    '2017-01-01T00:00:00.000Z',
    '2024-01-01T00:00:00.000Z',
    '2018-01-01T00:00:00.000Z',
  ];
  const events: AuditEvent[] = [];
  for (const [n, at] of recorded.entries()) events.push(await append(db, at, n));
  return events;
}

const ids = async (db: Database, table: string) =>
  (await db.query<{ id: string }>(`SELECT id FROM ${table} ORDER BY id`)).map((row) => row.id);

t.test('a dry run counts what would go and deletes nothing', async (t) => {
  const db = await auditDatabase(t);
  await seed(db);
  const result = await purgeAudit(db, CUTOFF, { dryRun: true, actor: 'ops' });
  // The 2018 event stays: it stands behind the 2024 one in the chain.
  t.same(result, { purged: 3, oldestKept: '2018-01-01T00:00:00.000Z' });
  t.equal((await ids(db, 'audit_event')).length, 5, 'nothing deleted, no purge event recorded');
});

t.test('a purge removes only the older prefix and verify still passes', async (t) => {
  const db = await auditDatabase(t);
  const events = await seed(db);
  const result = await purgeAudit(db, CUTOFF, { dryRun: false, actor: 'ops' });
  t.equal(result.purged, 3);
  t.equal(result.oldestKept, '2018-01-01T00:00:00.000Z');
  const gone = events.slice(0, 3).map((e) => e.id!);
  for (const table of ['audit_event']) {
    const left = await ids(db, table);
    t.notOk(
      gone.some((id) => left.includes(id)),
      `${table} keeps none of the purged events`,
    );
    t.ok(
      events.slice(3).every((e) => left.includes(e.id!)),
      `${table} keeps the newer ones (and the older one behind them)`,
    );
  }
  const [anchor] = await db.query<{ hash: string }>(
    'SELECT hash FROM audit_chain_anchor WHERE lane = 0',
  );
  t.not(anchor!.hash, GENESIS_HASH, 'the anchor moved to the last purged link');
  t.same(await verifyChain(db), { ok: true, count: 3 }, 'two kept events and the purge event');
  t.same(await purgeAudit(db, CUTOFF, { dryRun: true, actor: 'ops' }), {
    purged: 0,
    oldestKept: '2018-01-01T00:00:00.000Z',
  });
});

t.test('the purge records itself as an AuditEvent', async (t) => {
  const db = await auditDatabase(t);
  await seed(db);
  await purgeAudit(db, CUTOFF, { dryRun: false, actor: 'ops-alice' });
  const rows = await db.query<{ json: string }>(
    'SELECT json FROM audit_event ORDER BY seq DESC LIMIT 1',
  );
  const event = JSON.parse(rows[0]!.json) as AuditEvent;
  t.match(event, {
    type: { system: 'http://dicom.nema.org/resources/ontology/DCM', code: '110101' },
    action: 'D',
    outcome: '0',
    agent: [{ who: { identifier: { value: 'ops-alice' } }, requestor: true }],
  });
  const detail = Object.fromEntries(event.entity![0]!.detail!.map((d) => [d.type, d.valueString]));
  t.equal(detail['purged-count'], '3');
  t.equal(detail['recorded-before'], CUTOFF.toISOString());
  const served = await new AuditEventStore(db).read(event.id!, {
    requestId: 'r',
    access: 'unrestricted',
  });
  t.same(served, event, 'and serves it like any other');
});

t.test('purging everything leaves a chain that verifies and carries on', async (t) => {
  const db = await auditDatabase(t);
  await seed(db);
  const result = await purgeAudit(db, new Date('2030-01-01'), { dryRun: false, actor: 'ops' });
  t.equal(result.purged, 5);
  t.same(await verifyChain(db), { ok: true, count: 1 });
  await append(db, '2029-01-01T00:00:00.000Z', 9);
  t.same(await verifyChain(db), { ok: true, count: 2 });
  const empty = await purgeAudit(db, new Date('2000-01-01'), { dryRun: false, actor: 'ops' });
  t.equal(empty.purged, 0, 'a purge with nothing to do still records that it ran');
  t.same(await verifyChain(db), { ok: true, count: 3 });
});

t.test('the anchor cannot be moved outside a purge', async (t) => {
  const db = await auditDatabase(t);
  await seed(db);
  await t.rejects(
    db.query('UPDATE audit_chain_anchor SET seq = 2'),
    /moves only forward, by the retention purge/,
  );
  await t.rejects(
    db.transaction(async (tx) => {
      await tx.query("SET LOCAL telefhir.audit_purge = 'on'");
      await tx.query('UPDATE audit_chain_anchor SET seq = 2 WHERE lane = 0');
    }),
    /moves only forward, by the retention purge/,
    'not onto a link that is not there with that hash',
  );
  await t.rejects(
    db.transaction(async (tx) => {
      await tx.query("SET LOCAL telefhir.audit_purge = 'on'");
      await tx.query(
        `UPDATE audit_chain_anchor an SET seq = e.seq, hash = e.hash
         FROM audit_event e WHERE an.lane = 0 AND e.lane = 0 AND e.seq = 2`,
      );
      await tx.query('DELETE FROM audit_event WHERE seq = 1'); // leaves link 2 behind
    }),
    /exactly the chain of lane 0 up to its anchor/,
  );
  t.same(await verifyChain(db), { ok: true, count: 5 });
});

t.test('a purge removes the old prefix of every lane, each lane from its own anchor', async (t) => {
  const db = await auditDatabase(t);
  await append(db, '2015-01-01T00:00:00.000Z', 1, 0);
  await append(db, '2016-01-01T00:00:00.000Z', 2, 3);
  await append(db, '2016-06-01T00:00:00.000Z', 3, 3);
  await append(db, '2024-01-01T00:00:00.000Z', 4, 3);
  await append(db, '2025-01-01T00:00:00.000Z', 5, 6);
  t.same(await purgeAudit(db, CUTOFF, { dryRun: true, actor: 'ops' }), {
    purged: 3,
    oldestKept: '2024-01-01T00:00:00.000Z',
  });
  const result = await purgeAudit(db, CUTOFF, { dryRun: false, actor: 'ops' });
  t.equal(result.purged, 3, 'the same three as the dry run');
  const left = await db.query<{ lane: number }>('SELECT lane FROM audit_event ORDER BY seq');
  t.same(
    left.slice(0, 2).map((row) => row.lane),
    [3, 6],
    'each lane kept only what is newer than the cutoff',
  );
  const anchors = await db.query<{ lane: number; hash: string }>(
    'SELECT lane, hash FROM audit_chain_anchor ORDER BY lane',
  );
  t.same(
    anchors.filter((a) => a.hash !== GENESIS_HASH).map((a) => a.lane),
    [0, 3],
    'lanes 0 and 3 start from new anchors; the others from genesis',
  );
  t.same(await verifyChain(db), { ok: true, count: 3 }, 'two kept events and the purge event');
});

t.test('whole months of prefix go as partitions; a month with a kept event stays', async (t) => {
  const db = await auditDatabase(t);
  const months = ['2015-01-01', '2016-01-01', '2017-01-01', '2018-01-01', '2024-01-01'];
  for (const month of months) await db.query('SELECT audit_event_partition($1)', [month]);
  await seed(db); // 2015, 2016, 2017, then 2024, then 2018 behind it
  const exists = async (name: string) =>
    (await db.query<{ oid: string | null }>('SELECT to_regclass($1)::text AS oid', [name]))[0]!
      .oid !== null;
  t.ok(await exists('audit_event_2015_01'));
  const result = await purgeAudit(db, CUTOFF, { dryRun: false, actor: 'ops' });
  t.equal(result.purged, 3);
  for (const gone of ['audit_event_2015_01', 'audit_event_2016_01', 'audit_event_2017_01']) {
    t.notOk(await exists(gone), `${gone} was detached and dropped`);
  }
  t.ok(await exists('audit_event_2018_01'), 'the 2018 month stays: its event is behind a kept one');
  t.same(await verifyChain(db), { ok: true, count: 3 }, 'the chain verifies from the anchor');
});

t.test('a month partly before the anchor is purged row by row', async (t) => {
  const db = await auditDatabase(t);
  await db.query('SELECT audit_event_partition($1)', ['2015-01-01']);
  await append(db, '2015-01-01T00:00:00.000Z', 1, 0);
  await append(db, '2015-01-20T00:00:00.000Z', 2, 0);
  await append(db, '2015-01-10T00:00:00.000Z', 3, 4); // lane 4: all of it before the cutoff
  const cutoff = new Date('2015-01-15T00:00:00.000Z');
  const result = await purgeAudit(db, cutoff, { dryRun: false, actor: 'ops' });
  t.equal(result.purged, 2, 'lane 0 up to its first kept event, and lane 4');
  const left = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM audit_event_2015_01');
  t.equal(left[0]!.n, 1, 'the month stays with its one kept event');
  t.same(await verifyChain(db), { ok: true, count: 2 });
});
