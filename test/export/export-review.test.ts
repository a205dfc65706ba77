/**
 * What a security review of $export asked for: Group members held to their period at the
 * export's transaction time, the per-caller cap enforced atomically, a fair worker claim, and a
 * failed job answered with an OperationOutcome (its files cleaned up).
 */
import t from 'tap';
import { fhir } from '../helpers.js';
import {
  SERVICE,
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
