/**
 * $export jobs over time: a worker that dies mid-export and the one that resumes it, a stalled
 * worker that wakes up after its job was taken over, retention, the audit trail, and the
 * de-identification hook (with a Deidentifier of this test's own: safe-harbor.ts is wired by
 * the application, not here).
 */
import { createHmac } from 'node:crypto';
import type { Resource } from 'fhir/r4.js';
import t from 'tap';
import type { Deidentifier } from '../../src/export/deidentifier.js';
import { pseudonymKey } from '../../src/export/deidentify.js';
import { sweep, workOnce } from '../../src/export/worker.js';
import { fhir } from '../helpers.js';
import {
  SERVICE,
  bearer,
  download,
  drain,
  exportServer,
  keysOf,
  kick,
  observationExport,
  type Manifest,
} from './export-helpers.js';

t.test(
  'a worker killed mid-export: the next one resumes, complete and without duplicates',
  async (t) => {
    const running = await exportServer(t, { fileResources: 5 }, { exportLeaseMs: 300 });
    const { base, app } = running;
    const { status, expected } = await observationExport(t, base);

    // Worker A stops dead after its fifth page: in the middle of a file, its lease running out.
    let pages = 0;
    let stalled!: () => void;
    const stall = new Promise<void>((resolve) => (stalled = resolve));
    let wake!: () => void;
    const woken = new Promise<void>((resolve) => (wake = resolve));
    // Pages of 2, files of 5: a file is three pages, so the fifth page is inside a file.
    app.exportWorker.pageSize = 2;
    const a = workOnce({
      ...app.exportWorker,
      onPage: async () => {
        if (++pages === 5) {
          stalled();
          await woken;
        }
      },
    });
    await stall;
    const db = app.exportWorker.jobs.db;
    const [mid] = await db.query<{ files_done: number; pending_blob: string | null }>(
      `SELECT files_done, pending_blob FROM export_job`,
    );
    t.ok(mid!.files_done >= 1, `files written before the crash: ${mid!.files_done}`);
    t.ok(mid!.pending_blob, 'a file was being written');
    const polled = await fhir(base, 'GET', status, undefined, SERVICE);
    t.equal(polled.status, 202, 'still running');
    t.match(polled.headers.get('x-progress'), /resources in \d+ files/);

    t.notOk(await workOnce(app.exportWorker), 'no one takes it while the lease holds');
    await new Promise((resolve) => setTimeout(resolve, 400));
    t.ok(await workOnce(app.exportWorker), 'worker B claims the job once the lease ran out');
    t.notOk(
      await app.blobs.exists(mid!.pending_blob!),
      "the dead worker's half-written file is gone",
    );

    // A wakes up: its lease is gone, so whatever it does now changes nothing.
    wake();
    t.ok(await a);
    const done = await fhir(base, 'GET', status, undefined, SERVICE);
    t.equal(done.status, 200);
    const manifest = done.body as Manifest;
    t.ok(manifest.output.every((file) => file.count <= 5));
    const keys = keysOf(await download(base, manifest, SERVICE));
    t.same(keys, expected, 'every resource exactly once');
    const [files] = await db.query<{ n: string }>(`SELECT count(*) AS n FROM export_file`);
    t.equal(Number(files!.n), manifest.output.length, 'no file recorded by the stalled worker');
  },
);

t.test('expired jobs and their files are deleted', async (t) => {
  const running = await exportServer(t);
  const { base, app } = running;
  const { status } = await kick(base, '$export?_type=Patient', SERVICE);
  await drain(running);
  const db = app.exportWorker.jobs.db;
  const keys = (await db.query<{ blob_key: string }>(`SELECT blob_key FROM export_file`)).map(
    (row) => row.blob_key,
  );
  t.ok(keys.length > 0);
  await sweep(app.exportWorker);
  t.equal((await fhir(base, 'GET', status, undefined, SERVICE)).status, 200, 'kept until expiry');
  await db.query(`UPDATE export_job SET expires_at = now() - interval '1 second'`);
  t.equal((await fhir(base, 'GET', status, undefined, SERVICE)).status, 404, 'expired: 404');
  await sweep(app.exportWorker);
  for (const key of keys) t.notOk(await app.blobs.exists(key), 'its file is deleted');
  t.same(await db.query(`SELECT * FROM export_job`), []);
  t.same(await db.query(`SELECT * FROM export_blob_deletion`), []);
});

t.test('kick-off and every download are audited, without values', async (t) => {
  const running = await exportServer(t);
  const { base } = running;
  const filter = encodeURIComponent('Observation?_id=o1,o3');
  const { status } = await kick(base, `$export?_type=Observation&_typeFilter=${filter}`, SERVICE);
  await drain(running);
  const done = await fhir(base, 'GET', status, undefined, SERVICE);
  await download(base, done.body as Manifest, SERVICE);
  const events = await fhir(base, 'GET', 'AuditEvent?_count=200&_sort=-date');
  const mine = (events.body.entry ?? [])
    .map((e: { resource: Resource }) => JSON.stringify(e.resource))
    .filter((text: string) => text.includes('svc-a'));
  t.ok(
    mine.some((text: string) => /"code":"operation"/.test(text)),
    'the kick-off',
  );
  t.ok(
    mine.some((text: string) => /"code":"read"/.test(text)),
    'the download',
  );
  t.notMatch(mine.join('\n'), /o1,o3|_id=o1/, 'no parameter values');
});

/** A stand-in for safe-harbor.ts: Patients with pseudonymous ids and no names; nothing else. */
const maskPatients = (key: Buffer): Deidentifier => ({
  method: 'test-mask',
  apply: (resource) =>
    resource.resourceType === 'Patient'
      ? ({
          resourceType: 'Patient',
          id: createHmac('sha256', key).update(resource.id!).digest('hex').slice(0, 32),
        } as Resource)
      : undefined,
  describe: () => ['names', 'ids replaced by pseudonyms'],
});

t.test('_deidentify: who may ask, and the transform applied to every resource', async (t) => {
  const running = await exportServer(t, {}, { deidentifiers: { 'test-mask': maskPatients } });
  const { base } = running;
  const deid = bearer({
    sub: 'svc-d',
    client_id: 'svc-d',
    scope: 'telefhir/export.deidentified',
  });
  const provider = bearer({ scope: 'user/*.rs', role: 'PROVIDER', fhirUser: 'Practitioner/dr1' });
  t.equal((await kick(base, '$export?_deidentify=test-mask', SERVICE)).res.status, 403, 'no scope');
  t.equal(
    (await kick(base, '$export?_deidentify=test-mask', provider)).res.status,
    403,
    'PROVIDER',
  );
  t.equal((await kick(base, '$export?_deidentify=other', deid)).res.status, 400, 'unknown method');
  t.equal((await kick(base, '$export', deid)).res.status, 403, 'identified export refused');

  const run = async (headers: Record<string, string>) => {
    const { res, status } = await kick(
      base,
      '$export?_type=Patient,Observation&_deidentify=test-mask',
      headers,
    );
    t.equal(res.status, 202);
    await drain(running);
    const done = await fhir(base, 'GET', status, undefined, headers);
    t.equal(done.status, 200);
    return done.body as Manifest;
  };
  const first = await run(deid);
  t.same(first.deidentification, {
    method: 'test-mask',
    removed: ['names', 'ids replaced by pseudonyms'],
  });
  const resources = await download(base, first, deid);
  t.equal(resources.length, 2, 'Observations left out, two Patients');
  t.ok(resources.every((r) => r.resourceType === 'Patient' && !('name' in r)));
  t.notOk(
    keysOf(resources).some((k) => /p1|p2/.test(k)),
    'no real ids',
  );
  const admin = bearer({ scope: 'user/*.rs', role: 'ADMIN', fhirUser: 'Practitioner/admin' });
  const second = await download(base, await run(admin), admin);
  t.notSame(keysOf(second), keysOf(resources), 'pseudonyms differ between exports');
  const secret = Buffer.alloc(32, 7);
  t.same(pseudonymKey(secret, 'job'), pseudonymKey(secret, 'job'), 'a resumed job: the same key');
  t.notSame(pseudonymKey(secret, 'job'), pseudonymKey(secret, 'other'));
});
