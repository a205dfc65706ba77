/**
 * What a security review of $export asked for: Group members held to their period at the
 * export's transaction time, the per-caller cap enforced atomically, a fair worker claim, and a
 * failed job answered with an OperationOutcome (its files cleaned up).
 */
import type { OperationOutcome, Resource } from 'fhir/r4.js';
import t from 'tap';
import type { Deidentifier } from '../../src/export/deidentifier.js';
import { sweep, workOnce } from '../../src/export/worker.js';
import { fhir } from '../helpers.js';
import {
  OTHER_SERVICE,
  SERVICE,
  bearer,
  download,
  drain,
  exportServer,
  keysOf,
  kick,
  type Manifest,
} from './export-helpers.js';

const DAY = 86_400_000;
const iso = (ms: number) => new Date(Date.now() + ms).toISOString();

t.test('Group export: only members active at the transaction time', async (t) => {
  const running = await exportServer(t);
  const { base } = running;
  const p3 = await fhir(base, 'PUT', 'Patient/p3', { resourceType: 'Patient', id: 'p3' });
  t.equal(p3.status, 201);
  const group = {
    resourceType: 'Group',
    id: 'g3',
    type: 'person',
    actual: true,
    member: [
      { entity: { reference: 'Patient/p1' }, period: { start: iso(-10 * DAY) } },
      { entity: { reference: 'Patient/p2' }, period: { start: iso(-10 * DAY), end: iso(-DAY) } },
      { entity: { reference: 'Patient/p3' }, period: { start: iso(DAY) } },
    ],
  };
  t.equal((await fhir(base, 'PUT', 'Group/g3', group)).status, 201);
  const { res, status } = await kick(base, 'Group/g3/$export?_type=Patient', SERVICE);
  t.equal(res.status, 202, res.text);
  await drain(running);
  const done = await fhir(base, 'GET', status, undefined, SERVICE);
  t.equal(done.status, 200);
  const keys = keysOf(await download(base, done.body as Manifest, SERVICE));
  t.same(keys, ['Patient/p1'], 'the ended and the future member are left out');
});

t.test('the per-caller cap holds against simultaneous kick-offs', async (t) => {
  const cap = 3;
  const running = await exportServer(t, { maxActiveJobs: cap });
  const { base, app } = running;
  const answers = await Promise.all(
    Array.from({ length: cap + 2 }, () => kick(base, '$export?_type=Patient', SERVICE)),
  );
  const statuses = answers.map(({ res }) => res.status).sort();
  t.same(statuses, [...Array<number>(cap).fill(202), 429, 429], `answers: ${statuses.join(' ')}`);
  for (const { res } of answers.filter(({ res }) => res.status === 429)) {
    t.equal((res.body as { resourceType?: string }).resourceType, 'OperationOutcome');
    t.equal(res.headers.get('retry-after'), '60');
  }
  const [jobs] = await app.exportWorker.jobs.db.query<{ n: string | number }>(
    `SELECT count(*) AS n FROM export_job`,
  );
  t.equal(Number(jobs!.n), cap, 'exactly the cap of jobs exists');
});

t.test('the worker claims fairly: the caller with fewest leased jobs first', async (t) => {
  const running = await exportServer(t, { maxActiveJobs: 3 });
  const { base, app } = running;
  for (let i = 0; i < 3; i++) {
    t.equal((await kick(base, '$export?_type=Patient', SERVICE)).res.status, 202);
  }
  t.equal((await kick(base, '$export?_type=Patient', OTHER_SERVICE)).res.status, 202);

  // svc-a's oldest job is claimed and held (its worker is busy with it).
  let held!: () => void;
  const holding = new Promise<void>((resolve) => (held = resolve));
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const first: string[] = [];
  const a = workOnce({
    ...app.exportWorker,
    onPage: async (job) => {
      if (!first.length) {
        first.push(job.subject);
        held();
        await released;
      }
    },
  });
  await holding;
  t.same(first, ['svc-a'], 'the oldest job first when nobody holds any');

  // Two more of svc-a's are older, but svc-b has none leased: its job goes next.
  const next: string[] = [];
  t.ok(await workOnce({ ...app.exportWorker, onPage: (job) => void next.push(job.subject) }));
  t.same([...new Set(next)], ['svc-b'], "svc-b's job before svc-a's second");
  release();
  t.ok(await a);
  await drain(running);
  const states = await app.exportWorker.jobs.db.query<{ state: string }>(
    `SELECT state FROM export_job`,
  );
  t.same(
    states.map((row) => row.state),
    ['completed', 'completed', 'completed', 'completed'],
  );
});

t.test('a failed job: an OperationOutcome, no internals, its files cleaned up', async (t) => {
  const boom = (): Deidentifier => ({
    method: 'boom',
    apply(resource: Resource) {
      if (resource.resourceType === 'Patient') throw new Error('internal detail Patient/p1 xyz');
      return resource;
    },
    describe: () => [],
  });
  const running = await exportServer(t, {}, { deidentifiers: { boom } });
  const { base, app } = running;
  const caller = bearer({
    sub: 'svc-d',
    client_id: 'svc-d',
    scope: 'system/*.rs telefhir/export.deidentified',
  });
  const { res, status } = await kick(
    base,
    '$export?_type=Observation,Patient&_deidentify=boom',
    caller,
  );
  t.equal(res.status, 202, res.text);
  const db = app.exportWorker.jobs.db;
  // The first attempt writes the Observation file, then fails on Patient.
  t.ok(await workOnce(app.exportWorker));
  const keys = (await db.query<{ blob_key: string }>(`SELECT blob_key FROM export_file`)).map(
    (row) => row.blob_key,
  );
  t.ok(keys.length > 0, 'a file was written before the failure');
  await drain(running);
  const [job] = await db.query<{ state: string }>(`SELECT state FROM export_job`);
  t.equal(job!.state, 'failed');
  const answer = await fhir(base, 'GET', status, undefined, caller);
  t.equal(answer.status, 500, 'the failure was the server’s');
  const outcome = answer.body as OperationOutcome;
  t.equal(outcome.resourceType, 'OperationOutcome');
  t.equal(outcome.issue[0]?.severity, 'error');
  t.match(outcome.issue[0]?.diagnostics, /failed.*new kick-off/i);
  t.notMatch(answer.text, /internal detail|Patient\/p1|xyz|Error/);
  t.same(await db.query(`SELECT * FROM export_file`), [], 'no file listed');
  await sweep(app.exportWorker);
  t.same(await db.query(`SELECT * FROM export_blob_deletion`), [], 'every blob deleted');
  for (const key of keys) t.notOk(await app.blobs.exists(key), 'its file is deleted');
});
