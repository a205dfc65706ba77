/**
 * `GET /fhir/{type}/{id}` on the Postgres store reads and audits in one statement
 * (store/postgres/read-audited.ts) and sends the stored JSON text as is: the event is the one
 * the ordinary path would write (the resource and its patients), it is chained like any other,
 * and every case the fast path doesn't cover still behaves as before.
 */
import { randomUUID } from 'node:crypto';
import type { AuditEvent } from 'fhir/r4.js';
import t, { type Test } from 'tap';
import { verifyChain } from '../../src/audit/verify.js';
import { fhir, startServer, startTestServer, testConfig, testToken } from '../helpers.js';
import { openDatabase, type Database } from '../../src/db/database.js';
import { migrate } from '../../src/db/migrate.js';
import { searchIndexer } from '../../src/store/postgres/search-indexer.js';
import { observation, patient } from '../fixtures.js';
import { PostgresStore } from '../../src/store/postgres/postgres-store.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

async function eventsOf(base: string, requestId: string): Promise<AuditEvent[]> {
  const res = await fhir(base, 'GET', `AuditEvent?request-id=${requestId}`);
  return ((res.body.entry ?? []) as Json[]).map((entry) => entry.resource as AuditEvent);
}

const refs = (event: AuditEvent) =>
  (event.entity ?? []).flatMap((e) => (e.what?.reference ? [e.what.reference] : [])).sort();

/** A server on a Postgres store this test holds the database of. */
async function serverWithDatabase(t: Test) {
  const config = await testConfig(t);
  const db = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  await migrate(db);
  const store = new PostgresStore(db, db, false, searchIndexer(config.baseUrl));
  await store.sharedSecret('paging');
  store.partitions.ensured(); // as openPostgresStore does: this month's partitions exist
  const { base } = await startServer(t, config, { store });
  return { base, db };
}

t.test('a read answers with the stored text and leaves exactly its event', async (t) => {
  const { base, db } = await serverWithDatabase(t);
  await fhir(base, 'PUT', 'Patient/p1', { ...patient(), id: 'p1' });
  const created = await fhir(base, 'POST', 'Observation', observation('Patient/p1'));
  const id = created.body.id as string;

  let statements = 0;
  const query = db.query.bind(db);
  db.query = ((text: string, params?: unknown[], name?: string) => {
    statements++;
    return query(text, params, name);
  }) as typeof db.query;
  const requestId = randomUUID();
  const read = await fhir(base, 'GET', `Observation/${id}`, undefined, {
    'x-request-id': requestId,
  });
  db.query = query;
  t.equal(read.status, 200);
  t.equal(statements, 1, 'one statement for the read and its audit');
  const [stored] = await db.query<{ text: string }>(
    `SELECT content::text AS text FROM resource_current
     WHERE resource_type = 'Observation' AND id = $1`,
    [id],
  );
  t.equal(read.text, stored!.text, 'the body is the stored JSON text, byte for byte');
  t.equal(read.headers.get('etag'), 'W/"1"');
  t.ok(read.headers.get('last-modified'));
  t.match(read.headers.get('content-type'), /application\/fhir\+json/);

  const events = await eventsOf(base, requestId);
  t.equal(events.length, 1, 'exactly one AuditEvent');
  t.same(
    refs(events[0]!),
    [`Observation/${id}`, 'Patient/p1'],
    'naming the resource and its patient',
  );
  t.equal(events[0]!.action, 'R');
  t.equal(events[0]!.subtype?.[0]?.code, 'read');
  t.same(await verifyChain(db), { ok: true, count: await chainCount(db) }, 'the chain verifies');

  const again = await fhir(base, 'GET', `Observation/${id}`, undefined, {
    'if-none-match': 'W/"1"',
  });
  t.equal(again.status, 304, 'If-None-Match still gives 304');
});

async function chainCount(db: Database) {
  const [row] = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM audit_event');
  return row!.n;
}

t.test(
  'outside the grant, absent or deleted: the ordinary path says so and audits it',
  async (t) => {
    const { base } = await startTestServer(t);
    await fhir(base, 'PUT', 'Patient/p1', { ...patient(), id: 'p1' });
    await fhir(base, 'PUT', 'Patient/p2', { ...patient(), id: 'p2' });
    const own = {
      authorization: `Bearer ${testToken({ scope: 'patient/*.rs', role: 'PATIENT', patient: 'p1' })}`,
    };
    const cases: [string, Record<string, string>, number][] = [
      ['Patient/p2', own, 404],
      ['Patient/nobody', {}, 404],
      ['Observation/x', own, 404],
    ];
    await fhir(base, 'PUT', 'Patient/gone', { ...patient(), id: 'gone' });
    await fhir(base, 'DELETE', 'Patient/gone');
    cases.push(['Patient/gone', {}, 410]);
    for (const [path, headers, status] of cases) {
      const requestId = randomUUID();
      const res = await fhir(base, 'GET', path, undefined, {
        ...headers,
        'x-request-id': requestId,
      });
      t.equal(res.status, status, path);
      t.notMatch(res.text, /Chalmers/, 'no data');
      const events = await eventsOf(base, requestId);
      t.equal(events.length, 1, `${path}: one event`);
      t.equal(events[0]?.outcome, '4', 'recorded as refused');
    }
    const mine = await fhir(base, 'GET', 'Patient/p1', undefined, own);
    t.equal(mine.status, 200, 'the own record reads');
  },
);

t.test('concurrent reads: each leaves its event, whichever way it was appended', async (t) => {
  const { base, db } = await serverWithDatabase(t);
  await fhir(base, 'PUT', 'Patient/p1', { ...patient(), id: 'p1' });
  const created = await fhir(base, 'POST', 'Observation', observation('Patient/p1'));
  const id = created.body.id as string;
  const requestIds = Array.from({ length: 30 }, () => randomUUID());
  const reads = await Promise.all(
    requestIds.map((requestId) =>
      fhir(base, 'GET', `Observation/${id}`, undefined, { 'x-request-id': requestId }),
    ),
  );
  t.ok(
    reads.every((read) => read.status === 200),
    'all answered',
  );
  for (const requestId of requestIds) {
    const events = await eventsOf(base, requestId);
    if (events.length !== 1 || refs(events[0]!).join() !== `Observation/${id},Patient/p1`) {
      t.fail(`request ${requestId}: ${JSON.stringify(events.map(refs))}`);
    }
  }
  t.same(await verifyChain(db), { ok: true, count: await chainCount(db) }, 'the chain verifies');
});
