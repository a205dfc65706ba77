/**
 * A worker process killed (SIGKILL) in the middle of an export: a server started afterwards on
 * the same database resumes the job once the dead worker's lease has run out, drops its
 * half-written file, and the output is complete, each resource exactly once. Runs on both
 * stores: the embedded database is reopened after the kill, as after a crash.
 */
import { spawn } from 'node:child_process';
import t from 'tap';
import { fromRoot } from '../../src/paths.js';
import { fhir, startServer, TEST_AUDIENCE, TEST_ISSUER, TEST_SECRET } from '../helpers.js';
import {
  SERVICE,
  download,
  drain,
  exportServer,
  keysOf,
  observationExport,
  type Manifest,
} from './export-helpers.js';

/** Runs worker-child.ts on `env`'s database until it says it stalled; then kills it. */
async function killMidExport(env: Record<string, string>) {
  const child = spawn(
    process.execPath,
    ['--import=tsx', fromRoot('test', 'export', 'worker-child.ts')],
    {
      cwd: fromRoot(),
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stdout.on('data', (chunk) => (out += String(chunk)));
  child.stderr.on('data', (chunk) => (out += String(chunk)));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const deadline = Date.now() + 120_000;
  while (!out.includes('stalled') && child.exitCode === null && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
  }
  const stalled = out.includes('stalled');
  child.kill('SIGKILL');
  await exited;
  return { stalled, out };
}

t.test(
  'a worker process killed mid-export: the export resumes, complete, no duplicates',
  async (t) => {
    const first = await exportServer(t, { fileResources: 5 }, { exportLeaseMs: 300 });
    const { status, expected } = await observationExport(t, first.base);
    t.ok(status, 'kicked off');
    const config = first.config;
    await first.close(); // the embedded database can have one holder: the worker process next

    const killed = await killMidExport({
      ...(config.databaseUrl ? { DATABASE_URL: config.databaseUrl } : { DATABASE_URL: '' }),
      DATA_DIR: config.dataDir,
      AUTH_HS256_SECRET: TEST_SECRET,
      AUTH_ISSUER: TEST_ISSUER,
      AUTH_AUDIENCE: TEST_AUDIENCE,
      LOG_LEVEL: 'silent',
      VALIDATION_DEFAULT_PROFILES: 'none',
      EMBEDDED_SHARED_BUFFERS_MB: '16',
      EXPORT_FILE_RESOURCES: '5',
      EXPORT_POLL_MS: '0',
      REMINDER_POLL_MS: '0',
    });
    t.ok(
      killed.stalled,
      `the worker process stopped mid-export and was killed: ${killed.out.slice(-500)}`,
    );

    const second = await startServer(t, { ...config }, { exportLeaseMs: 300 });
    const db = second.app.exportWorker.jobs.db;
    const [mid] = await db.query<{ files_done: number; pending_blob: string | null }>(
      `SELECT files_done, pending_blob FROM export_job`,
    );
    t.ok(mid!.files_done >= 1, `files written before the kill: ${mid!.files_done}`);
    t.ok(mid!.pending_blob, 'a file was being written when it died');
    const polled = await fhir(second.base, 'GET', status, undefined, SERVICE);
    t.equal(polled.status, 202, 'still in progress after the crash');

    await new Promise((r) => setTimeout(r, 400)); // the dead worker's lease runs out
    await drain(second);
    t.notOk(await second.app.blobs.exists(mid!.pending_blob!), 'its half-written file is gone');
    const done = await fhir(second.base, 'GET', status, undefined, SERVICE);
    t.equal(done.status, 200, done.text);
    const manifest = done.body as Manifest;
    t.ok(
      manifest.output.every((file) => file.count <= 5),
      'files of at most 5',
    );
    t.same(keysOf(await download(second.base, manifest, SERVICE)), expected, 'each resource once');
    const [files] = await db.query<{ n: string }>(`SELECT count(*) AS n FROM export_file`);
    t.equal(Number(files!.n), manifest.output.length, 'one record per file served');
  },
);
