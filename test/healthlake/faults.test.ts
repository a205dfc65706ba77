/**
 * What HealthLake's failures become: each a documented status with an OperationOutcome, none
 * a crash or a hang, and the server answering normally afterwards.
 */
import t, { type Test } from 'tap';
import { fhir, startServer, testConfig } from '../helpers.js';
import { backWithHealthLake } from './harness.js';

async function start(t: Test) {
  const config = await testConfig(t);
  // A short timeout so the hang case is quick (not so short that a loaded machine trips it).
  const { emulator } = await backWithHealthLake(t, config, {
    HEALTHLAKE_TIMEOUT_MS: '3000',
    HEALTHLAKE_MAX_ATTEMPTS: '3',
  });
  const server = await startServer(t, config);
  const created = await fhir(server.base, 'POST', 'Patient', { resourceType: 'Patient' });
  t.equal(created.status, 201);
  return { ...server, emulator, id: created.body.id as string };
}

const isOutcome = (body: { resourceType?: string } | undefined) =>
  body?.resourceType === 'OperationOutcome';

t.test('each upstream failure gives its status, and the server carries on', async (t) => {
  const { base, emulator, id } = await start(t);
  const cases = [
    ['server-error', 502],
    ['close', 502],
    ['malformed', 502],
    ['hang', 504],
  ] as const;
  for (const [fault, status] of cases) {
    // Enough faults that a retry (if any) meets one too.
    emulator.failNext(3, fault);
    const started = Date.now();
    const res = await fhir(base, 'GET', `Patient/${id}`);
    t.equal(res.status, status, `${fault} → ${status}`);
    t.ok(isOutcome(res.body), `${fault}: an OperationOutcome`);
    t.ok(Date.now() - started < 8000, `${fault}: answered promptly`);
    // Drain the faults a request didn't use, then the next request is normal again.
    for (let i = 0; i < 3 && (await fhir(base, 'GET', `Patient/${id}`)).status !== 200; i++);
    t.equal((await fhir(base, 'GET', `Patient/${id}`)).status, 200, `${fault}: recovered`);
  }
});

t.test('a throttled read is retried and succeeds', async (t) => {
  const { base, emulator, id } = await start(t);
  const before = emulator.requests.length;
  emulator.failNext(1, 'throttle');
  const res = await fhir(base, 'GET', `Patient/${id}`);
  t.equal(res.status, 200);
  t.equal(emulator.requests.length - before, 2, '429, then the retry');
});

t.test(
  'a throttled transaction Bundle is not retried (not idempotent): 429 to the client',
  async (t) => {
    const { base, emulator } = await start(t);
    emulator.failNext(3, 'throttle');
    const res = await fhir(base, 'POST', 'Bundle', undefined);
    t.ok(res.status >= 400);
    const write = await fhir(base, 'POST', '', {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          fullUrl: 'urn:uuid:1',
          resource: { resourceType: 'Patient' },
          request: { method: 'POST', url: 'Patient' },
        },
        {
          fullUrl: 'urn:uuid:2',
          resource: { resourceType: 'Patient' },
          request: { method: 'POST', url: 'Patient' },
        },
      ],
    });
    t.equal(write.status, 429);
    t.ok(isOutcome(write.body));
  },
);

t.test(
  'a write HealthLake fails leaves no success in the audit trail, only the failure',
  async (t) => {
    const { base, emulator } = await start(t);
    const creates = async () => {
      const events = await fhir(base, 'GET', 'AuditEvent?action=C&_count=100');
      t.equal(events.status, 200);
      return (events.body.entry ?? []).map(
        (e: { resource: { outcome: string } }) => e.resource.outcome,
      );
    };
    t.same(await creates(), ['0'], 'the set-up create');
    // A create sends nothing upstream before its write: the fault meets the write itself.
    emulator.failNext(1, 'server-error');
    const res = await fhir(base, 'POST', 'Patient', { resourceType: 'Patient' });
    t.equal(res.status, 502);
    t.same((await creates()).sort(), ['0', '8'], 'one more event, a serious failure, no success');
    const patients = await fhir(base, 'GET', 'Patient?_total=accurate');
    t.equal(patients.body.total, 1, 'and nothing was written');
  },
);
