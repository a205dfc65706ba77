/**
 * Nothing waits forever: a statement past DB_STATEMENT_TIMEOUT_MS, a lock wait past
 * DB_LOCK_TIMEOUT_MS (on PGlite: the wait for its one connection), a request past
 * REQUEST_TIMEOUT_MS: each is a 503 OperationOutcome with Retry-After, and the failed request
 * is audited as one.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import t, { type Test } from 'tap';
import type { Resource } from 'fhir/r4.js';
import type { Config } from '../../src/config.js';
import { SERVER } from '../../src/operations/operation.js';
import { patient } from '../fixtures.js';
import { fhir, logCapture, startServer, testConfig } from '../helpers.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
type Tap = Parameters<typeof testConfig>[0];

async function server(t: Tap, overrides: Partial<Config>) {
  const logs = logCapture();
  const config = await testConfig(t, { logLevel: 'info', ...overrides });
  const running = await startServer(t, config, { logStream: logs.stream });
  const created = await fhir(running.base, 'PUT', 'Patient/held', { ...patient(), id: 'held' });
  if (created.status !== 201) throw new Error(created.text);
  return { ...running, logs };
}

/**
 * Another transaction writes Patient/held and stays open until released: on Postgres it holds
 * the row's locks, on PGlite the one connection.
 */
async function holdPatient(app: Awaited<ReturnType<typeof server>>['app']) {
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  let started!: () => void;
  const holding = new Promise<void>((resolve) => (started = resolve));
  const done = app.store.transaction(async (tx) => {
    await tx.update(patient({ id: 'held', active: false }) as unknown as Resource, SERVER);
    started();
    await held;
  });
  await holding;
  return async () => {
    release();
    await done;
  };
}

async function failureEvents(base: string, requestId: string): Promise<Json[]> {
  const res = await fhir(base, 'GET', `AuditEvent?request-id=${requestId}`);
  if (res.status !== 200) throw new Error(res.text);
  return (res.body.entry ?? []).map((e: Json) => e.resource);
}

function expect503(t: Test, res: Json, issue: string) {
  t.equal(res.status, 503, res.text);
  t.equal(res.body?.resourceType, 'OperationOutcome');
  t.equal(res.body?.issue?.[0]?.code, issue);
  t.match(res.headers.get('retry-after'), /^\d+$/, 'Retry-After says when to come back');
}

t.test(
  'a statement past DB_STATEMENT_TIMEOUT_MS: 503, audited as a failure',
  {
    skip: process.env.DATABASE_URL
      ? false
      : 'PGlite runs a statement synchronously in WebAssembly, with no signal to cancel it by (its waits are bounded by the lock timeout, tested below)',
  },
  async (t) => {
    const { app, base } = await server(t, { dbTimeouts: { statementMs: 300, lockMs: 20_000 } });
    const release = await holdPatient(app);
    const requestId = randomUUID();
    const started = Date.now();
    const res = await fhir(
      base,
      'PUT',
      'Patient/held',
      { ...patient(), id: 'held' },
      {
        'x-request-id': requestId,
      },
    );
    await release();
    expect503(t, res, 'transient');
    t.ok(Date.now() - started < 10_000, 'long before the lock timeout');
    const [event, ...more] = await failureEvents(base, requestId);
    t.equal(more.length, 0);
    t.equal(event?.outcome, '8', 'the AuditEvent records a serious failure');
  },
);

t.test('a lock wait past DB_LOCK_TIMEOUT_MS: 503; audited when it can be', async (t) => {
  const { app, base, logs } = await server(t, { dbTimeouts: { statementMs: 30_000, lockMs: 300 } });
  const release = await holdPatient(app);
  const requestId = randomUUID();
  const res = await fhir(
    base,
    'PUT',
    'Patient/held',
    { ...patient(), id: 'held' },
    {
      'x-request-id': requestId,
    },
  );
  await release();
  expect503(t, res, 'transient');
  t.match(res.body.issue[0].diagnostics, /busy/);
  if (app.config.databaseUrl) {
    const [event] = await failureEvents(base, requestId);
    t.equal(event?.outcome, '8', 'the AuditEvent records a serious failure');
  } else {
    // The failure's AuditEvent waits for the same held connection, and gives up too: the loss
    // is said in the log (without content), and the client still hears the 503.
    t.match(logs.text(), /could not record the AuditEvent of a failed request/);
  }
  const after = await fhir(base, 'PUT', 'Patient/held', { ...patient(), id: 'held' });
  t.equal(after.status, 200, 'once the lock is gone, the same write succeeds');
});

t.test('a request past REQUEST_TIMEOUT_MS: 503, never a hang', async (t) => {
  const { app, base } = await server(t, {
    requestTimeoutMs: 2_000,
    dbTimeouts: { statementMs: 30_000, lockMs: 20_000 },
  });
  let release: () => Promise<void>;
  let admin: pg.Client | undefined;
  if (app.config.databaseUrl) {
    // A read waits only for a table lock: take one from a second connection.
    admin = new pg.Client({ connectionString: app.config.databaseUrl });
    await admin.connect();
    await admin.query('BEGIN');
    await admin.query('LOCK TABLE resource_current IN ACCESS EXCLUSIVE MODE');
    release = async () => {
      await admin!.query('ROLLBACK');
      await admin!.end();
    };
  } else {
    release = await holdPatient(app);
  }
  const started = Date.now();
  const res = await fhir(base, 'GET', 'Patient/held');
  const took = Date.now() - started;
  await release();
  expect503(t, res, 'timeout');
  t.ok(took < 10_000, `answered after ${took} ms, not when the wait ended`);
  const later = await fhir(base, 'GET', 'Patient/held');
  t.equal(later.status, 200, 'the server is fine afterwards');
});
