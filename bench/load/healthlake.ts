/**
 * Proxy overhead of FHIR_STORE=healthlake: the same read and the same search, once through the
 * facade (auth, access policy, audit, signing, link rewriting) and once straight to the
 * HealthLake emulator with a signed request, interleaved in one run so a noisy machine moves
 * both. What the facade adds is the difference of the percentiles. Target: p50 < 1 ms,
 * p99 < 5 ms added. In-process and one request at a time: this measures latency, not throughput.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { buildApp } from '../../src/app.js';
import { loadConfig, type Config } from '../../src/config.js';
import { HealthLakeClient } from '../../src/store/healthlake/client.js';
import { healthLakeSigner } from '../../src/store/healthlake/signer.js';
import { startHealthLakeEmulator } from '../../test/emulators/healthlake.js';
import { BENCH_AUTH_ENV, benchToken } from '../auth.js';
import { percentile } from '../latency.js';
import type { Row } from './run.js';

const AWS = {
  region: 'us-east-1',
  credentials: { accessKeyId: 'AKIDBENCHHEALTHLAKE1', secretAccessKey: 'bench/healthlake/secret' },
};

async function schema(databaseUrl: string | undefined, name: string) {
  const dataDir = mkdtempSync(join(tmpdir(), 'telefhir-bench-hl-'));
  if (!databaseUrl) {
    return {
      databaseUrl: undefined,
      dataDir,
      drop: async () => rmSync(dataDir, { recursive: true, force: true }),
    };
  }
  const run = async (sql: string) => {
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    await client.query(sql);
    await client.end();
  };
  await run(`DROP SCHEMA IF EXISTS ${name} CASCADE; CREATE SCHEMA ${name}`);
  const options = encodeURIComponent(`-c search_path=${name}`);
  return {
    databaseUrl: `${databaseUrl}${databaseUrl.includes('?') ? '&' : '?'}options=${options}`,
    dataDir,
    drop: async () => {
      await run(`DROP SCHEMA IF EXISTS ${name} CASCADE`);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

function config(
  db: { databaseUrl: string | undefined; dataDir: string },
  env: Record<string, string> = {},
): Config {
  return {
    ...loadConfig({
      LOG_LEVEL: 'silent',
      VALIDATION_DEFAULT_PROFILES: 'none',
      ...BENCH_AUTH_ENV,
      ...env,
    }),
    databaseUrl: db.databaseUrl,
    dataDir: db.dataDir,
  };
}

async function time(work: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await work();
  return performance.now() - started;
}

export async function healthLakeOverhead(options: {
  quick: boolean;
  databaseUrl: string | undefined;
}): Promise<Row[]> {
  const iterations = options.quick ? 30 : 1000;
  const token = benchToken();
  const backendDb = await schema(options.databaseUrl, `bench_hl_up_${process.pid}`);
  const facadeDb = await schema(options.databaseUrl, `bench_hl_facade_${process.pid}`);
  const emulator = await startHealthLakeEmulator({
    ...AWS,
    backend: config(backendDb),
    backendToken: token,
  });
  const saved = { ...process.env };
  Object.assign(process.env, {
    AWS_ACCESS_KEY_ID: AWS.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: AWS.credentials.secretAccessKey,
    AWS_ENDPOINT_URL_HEALTHLAKE: emulator.origin,
  });
  const facadeConfig = config(facadeDb, {
    FHIR_STORE: 'healthlake',
    HEALTHLAKE_ENDPOINT: emulator.endpoint,
    AWS_REGION: AWS.region,
  });
  const app = await buildApp(facadeConfig);
  const direct = new HealthLakeClient(
    { endpoint: emulator.endpoint, timeoutMs: 10_000, maxAttempts: 1 },
    healthLakeSigner(AWS.region, AWS.credentials),
  );
  try {
    await app.listen({ port: 0, host: '127.0.0.1' });
    const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/fhir`;
    const headers = { authorization: `Bearer ${token}`, accept: 'application/fhir+json' };
    const created = await fetch(`${base}/Patient`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/fhir+json' },
      body: JSON.stringify({ resourceType: 'Patient', name: [{ family: 'Overhead' }] }),
    });
    const { id } = (await created.json()) as { id: string };
    const facade = {
      read: () => fetch(`${base}/Patient/${id}`, { headers }).then((r) => r.arrayBuffer()),
      search: () =>
        fetch(`${base}/Patient?family=Overhead`, { headers }).then((r) => r.arrayBuffer()),
    };
    const straight = {
      read: () => direct.send({ method: 'GET', path: `Patient/${id}`, idempotent: true }),
      search: () =>
        direct.send({
          method: 'GET',
          path: 'Patient',
          query: [['family', 'Overhead']],
          idempotent: true,
        }),
    };
    const rows: Row[] = [];
    for (const kind of ['read', 'search'] as const) {
      const through: number[] = [];
      const upstream: number[] = [];
      for (let i = 0; i < 5; i++) await Promise.all([facade[kind](), straight[kind]()]); // warm
      for (let i = 0; i < iterations; i++) {
        through.push(await time(facade[kind]));
        upstream.push(await time(straight[kind]));
      }
      through.sort((a, b) => a - b);
      upstream.sort((a, b) => a - b);
      const p50 = percentile(through, 50) - percentile(upstream, 50);
      const p99 = percentile(through, 99) - percentile(upstream, 99);
      rows.push({
        scenario: `healthlake proxy overhead: ${kind} (facade − direct, ${iterations} each)`,
        connections: 1,
        p50,
        p99,
        target: 'p50 < 1 ms, p99 < 5 ms added',
        met: p50 < 1 && p99 < 5,
        note: `direct p50 ${percentile(upstream, 50).toFixed(1)} ms`,
      });
    }
    return rows;
  } finally {
    direct.close();
    await app.close();
    await emulator.stop();
    process.env = saved;
    await facadeDb.drop();
    await backendDb.drop();
  }
}
