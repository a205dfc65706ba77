/**
 * The audited read over HTTP: `npx tsx bench/read-http.ts` with DATABASE_URL set. Builds the
 * app on a fresh schema, stores 200 Patients, then autocannon sends authenticated
 * `GET /fhir/Patient/{id}` (each audited) from CONNECTIONS connections for SECONDS, in-process
 * (client, server and database share the machine). Prints one JSON line. Uses only buildApp
 * and HTTP, so it measures any commit.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import pg from 'pg';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { BENCH_AUTH_ENV, benchToken } from './auth.js';

const CONNECTIONS = Number(process.env.CONNECTIONS ?? 50);
const SECONDS = Number(process.env.SECONDS ?? 10);
const url = process.env.DATABASE_URL;
if (!url) throw new Error('DATABASE_URL is required');

const schema = `bench_read_${process.pid}`;
const admin = new pg.Client({ connectionString: url });
await admin.connect();
await admin.query(`CREATE SCHEMA ${schema}`);
const dataDir = mkdtempSync(join(tmpdir(), 'telefhir-bench-read-'));
try {
  const config = {
    ...loadConfig({ LOG_LEVEL: 'silent', VALIDATION_DEFAULT_PROFILES: 'none', ...BENCH_AUTH_ENV }),
    databaseUrl: `${url}${url.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`,
    dataDir,
  };
  const app = await buildApp(config);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as { port: number };
  const base = `http://127.0.0.1:${port}/fhir`;
  const headers = {
    authorization: `Bearer ${benchToken()}`,
    accept: 'application/fhir+json',
    'content-type': 'application/fhir+json',
  };
  const ids: string[] = [];
  for (let n = 0; n < 200; n++) {
    const res = await fetch(`${base}/Patient`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ resourceType: 'Patient', name: [{ family: `Bench${n}` }] }),
    });
    ids.push(((await res.json()) as { id: string }).id);
  }
  let n = 0;
  const run = (duration: number) =>
    autocannon({
      url: base,
      connections: CONNECTIONS,
      duration,
      headers,
      requests: [
        {
          method: 'GET',
          setupRequest: (req) => ({ ...req, path: `/fhir/Patient/${ids[n++ % ids.length]}` }),
        },
      ],
    });
  await run(2); // warm-up
  const result = await run(SECONDS);
  console.log(
    JSON.stringify({
      connections: CONNECTIONS,
      seconds: SECONDS,
      reqPerSecond: Math.round(result.requests.average),
      p50ms: result.latency.p50,
      p99ms: result.latency.p99,
      non2xx: result.non2xx,
      errors: result.errors,
    }),
  );
  await app.close();
} finally {
  rmSync(dataDir, { recursive: true, force: true });
  await admin.query(`DROP SCHEMA ${schema} CASCADE`);
  await admin.end();
}
