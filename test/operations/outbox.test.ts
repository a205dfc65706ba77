/**
 * Operations on a clinical store that is not the workflow's database (as with HealthLake):
 * their FHIR writes and AuditEvents go through the outbox, delivered after the workflow commits,
 * retried until the store has them, and never written twice.
 */
import t from 'tap';
import { fhir, startServer, testConfig } from '../helpers.js';
import { patient, practitioner } from '../fixtures.js';
import { openPostgresStore } from '../../src/store/postgres/open.js';
import { openWorkflow } from '../../src/workflow/workflow.js';
import { deliverOutbox } from '../../src/workflow/outbox.js';
import { appointmentLedger } from '../../src/workflow/appointment-ledger.js';

const ctx = { requestId: 't', access: 'unrestricted' as const };
const book = (start: string, end: string, who = 'p1') => ({
  resourceType: 'Parameters',
  parameter: [
    { name: 'patient', valueReference: { reference: `Patient/${who}` } },
    { name: 'practitioner', valueReference: { reference: 'Practitioner/dr1' } },
    { name: 'start', valueDateTime: start },
    { name: 'end', valueDateTime: end },
  ],
});

/** A "remote" clinical store in one database and the server's workflow in another. */
async function split(t: Parameters<typeof testConfig>[0]) {
  const remote = await testConfig(t);
  const store = await openPostgresStore(remote);
  const config = await testConfig(t);
  return { store, config };
}

t.test('$book on a remote store: delivered after commit, overlaps still refused', async (t) => {
  const { store, config } = await split(t);
  const { base } = await startServer(t, config, {
    store,
    separateWorkflow: true,
    outboxRetryMs: 100,
  });
  await fhir(base, 'PUT', 'Patient/p1', { ...patient(), id: 'p1' });
  await fhir(base, 'PUT', 'Patient/p2', { ...patient(), id: 'p2' });
  await fhir(base, 'PUT', 'Practitioner/dr1', { ...practitioner(), id: 'dr1' });
  const booked = await fhir(
    base,
    'POST',
    'Appointment/$book',
    book('2032-01-01T09:00:00Z', '2032-01-01T09:30:00Z'),
  );
  t.equal(booked.status, 201, booked.text);
  const stored = await store.read('Appointment', booked.body.id, ctx);
  t.equal((stored as unknown as { status: string }).status, 'booked', 'the store has it');
  const clash = await fhir(
    base,
    'POST',
    'Appointment/$book',
    book('2032-01-01T09:15:00Z', '2032-01-01T09:45:00Z', 'p2'),
  );
  t.equal(clash.status, 409, 'the ledger holds the time on the workflow side');
  const audit = await fhir(
    base,
    'GET',
    `AuditEvent?subtype=operation&entity=Appointment/${booked.body.id}`,
  );
  t.equal(audit.body.entry.length, 1, 'the AuditEvent was delivered too');
});

t.test(
  'a store that refuses writes: the outbox keeps them and delivers once it recovers',
  async (t) => {
    const { store, config } = await split(t);
    const workflow = await openWorkflow(store, config, {
      shared: false,
      hooks: [appointmentLedger()],
      retryMs: 60_000,
    });
    t.teardown(() => workflow.close());
    t.teardown(() => store.close());
    await store.database.query(
      'ALTER TABLE resource_current ADD CONSTRAINT refuse CHECK (false) NOT VALID',
    );
    const created = await workflow.run((tx) =>
      tx.store.create(
        { resourceType: 'Patient', id: 'ignored', active: true } as never,
        ctx,
        'queued-1',
      ),
    );
    t.equal(created.id, 'queued-1');
    await t.rejects(
      store.read('Patient', 'queued-1', ctx),
      /not known|not found|Patient\/queued-1/i,
      'not there yet',
    );
    const [pending] = await workflow.db.query<{ attempts: number; last_error: string }>(
      'SELECT attempts, last_error FROM outbox WHERE delivered_at IS NULL',
    );
    t.ok(pending && pending.attempts >= 1, 'tried, and kept');
    t.ok(pending?.last_error, 'with the reason');

    await store.database.query('ALTER TABLE resource_current DROP CONSTRAINT refuse');
    t.equal(await deliverOutbox(workflow.db, store), 1, 'delivered on the retry');
    t.equal((await store.read('Patient', 'queued-1', ctx)).id, 'queued-1');

    // The acknowledgement lost: the row is sent again, and the create is not repeated.
    await workflow.db.query('UPDATE outbox SET delivered_at = NULL');
    t.equal(await deliverOutbox(workflow.db, store), 1);
    const history = await store.history({ type: 'Patient', id: 'queued-1', count: 10 }, ctx);
    t.equal(history.total, 1, 'one version: never duplicated');
    t.equal(await deliverOutbox(workflow.db, store), 0, 'nothing left');
  },
);

t.test('a failed operation leaves nothing in the outbox', async (t) => {
  const { store, config } = await split(t);
  const workflow = await openWorkflow(store, config, { shared: false, retryMs: 60_000 });
  t.teardown(() => workflow.close());
  t.teardown(() => store.close());
  await t.rejects(
    workflow.run(async (tx) => {
      await tx.store.create({ resourceType: 'Patient' } as never, ctx, 'never');
      throw new Error('the operation failed after its write');
    }),
  );
  t.same(await workflow.db.query('SELECT seq FROM outbox'), [], 'rolled back with the workflow');
  await t.rejects(store.read('Patient', 'never', ctx));
});

t.test('deliverers racing: each row once, in order; a dead one is taken over', async (t) => {
  const { store, config } = await split(t);
  const workflow = await openWorkflow(store, config, { shared: false, retryMs: 60_000 });
  t.teardown(() => workflow.close());
  t.teardown(() => store.close());
  // Queued straight into the outbox (as operations do), not yet delivered.
  await workflow.db.transaction(async (sql) => {
    for (let i = 1; i <= 5; i++) {
      await sql.query(
        `INSERT INTO outbox (kind, resource_type, resource_id, body) VALUES ('update', 'Patient', 'race', $1::json)`,
        [JSON.stringify({ resourceType: 'Patient', id: 'race', birthDate: `200${i}-01-01` })],
      );
    }
  });
  const counts = await Promise.all([
    deliverOutbox(workflow.db, store, 2),
    deliverOutbox(workflow.db, store, 2),
    deliverOutbox(workflow.db, store, 2),
  ]);
  const first = counts.reduce((a, b) => a + b, 0);
  t.ok(first >= 2 && first <= 5, `some delivered at once (${counts.join('+')})`);
  while ((await deliverOutbox(workflow.db, store, 2)) > 0);
  const history = await store.history({ type: 'Patient', id: 'race', count: 10 }, ctx);
  t.equal(history.total, 5, 'five versions: no row twice');
  const latest = (await store.read('Patient', 'race', ctx)) as { birthDate?: string };
  t.equal(latest.birthDate, '2005-01-01', 'the last row last: order kept');

  // A deliverer that died holding leases: nobody else delivers until they run out.
  await workflow.db.query(
    `INSERT INTO outbox (kind, resource_type, resource_id, body, lease_until)
     VALUES ('update', 'Patient', 'race', $1::json, now() + interval '1 hour')`,
    [JSON.stringify({ resourceType: 'Patient', id: 'race', birthDate: '2010-01-01' })],
  );
  t.equal(await deliverOutbox(workflow.db, store), 0, 'held by a live lease');
  await workflow.db.query(`UPDATE outbox SET lease_until = now() - interval '1 second'`);
  t.equal(await deliverOutbox(workflow.db, store), 1, 'taken over once the lease ran out');
  const after = (await store.read('Patient', 'race', ctx)) as { birthDate?: string };
  t.equal(after.birthDate, '2010-01-01');
});

t.test(
  'a deliverer whose lease was taken over stops and leaves the new holder alone',
  async (t) => {
    const { store, config } = await split(t);
    const workflow = await openWorkflow(store, config, { shared: false, retryMs: 60_000 });
    t.teardown(() => workflow.close());
    t.teardown(() => store.close());
    for (let i = 1; i <= 3; i++) {
      await workflow.db.query(
        `INSERT INTO outbox (kind, resource_type, resource_id, body) VALUES ('update', 'Patient', 'slow', $1::json)`,
        [JSON.stringify({ resourceType: 'Patient', id: 'slow', birthDate: `200${i}-01-01` })],
      );
    }
    const other = '00000000-0000-4000-8000-000000000001';
    // The first send outlasts the lease: meanwhile another deliverer claims what is left.
    const slow = Object.create(store) as typeof store;
    let calls = 0;
    slow.update = async (resource, ctx) => {
      if (++calls === 1) {
        await workflow.db.query(
          `UPDATE outbox SET lease_token = $1, lease_until = now() + interval '1 hour'
         WHERE delivered_at IS NULL`,
          [other],
        );
      }
      return store.update(resource, ctx);
    };
    t.equal(await deliverOutbox(workflow.db, slow), 0, 'its row is no longer its own: not marked');
    t.equal(calls, 1, 'and it sends nothing more');
    const rows = await workflow.db.query<{ lease_token: string; delivered_at: Date | null }>(
      'SELECT lease_token, delivered_at FROM outbox ORDER BY seq',
    );
    t.ok(
      rows.every((r) => r.lease_token === other && r.delivered_at === null),
      "the new holder's leases untouched",
    );
  },
);
