import { mkdtempSync, rmSync, statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { createSigner } from 'fast-jwt';
import pg from 'pg';
import { buildApp, type AppParts } from '../src/app.js';
import { loadConfig, type Config } from '../src/config.js';
import { testBuildFiles } from './build-files.js';
import { copyTestTemplate, type TemplateKind } from './embedded-template.js';

type Tap = {
  teardown(fn: () => unknown): void;
};

/**
 * Where test data directories go: /dev/shm (memory) when it has room and TMPDIR names no other
 * place. An embedded database there is a ~40 MB copy per test; on a disk shared with other
 * work, copying and removing it took longer than many tests (measured: ~2 s against ~4 s).
 */
const TEST_TMP = ((): string => {
  if (process.env.TMPDIR) return tmpdir();
  try {
    const shm = statfsSync('/dev/shm');
    if (shm.bavail * shm.bsize > 2 * 1024 ** 3) return '/dev/shm';
  } catch {
    // no /dev/shm here (macOS, Windows)
  }
  return tmpdir();
})();

/** A fresh embedded database directory, removed when the test ends. */
export function tempDataDir(t: Tap): string {
  const dir = mkdtempSync(join(TEST_TMP, 'telefhir-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * A fresh DATA_DIR whose embedded database is a copy of one of the suite's templates
 * (embedded-template.ts): `migrated` for a server, `empty` for a test that migrates itself.
 */
export async function embeddedDataDir(t: Tap, kind: TemplateKind = 'empty'): Promise<string> {
  const dataDir = tempDataDir(t);
  await copyTestTemplate(join(dataDir, 'pgdata'), kind);
  return dataDir;
}

/**
 * A database of this test's own: with DATABASE_URL, a new schema on that server (dropped at
 * the end), reached through search_path; without, an embedded PGlite directory of its own,
 * copied from a template. Either way a DATA_DIR of its own (keys, local blobs), never the
 * checkout's `.data`. Empty, as the schema is, unless `embedded` is 'migrated': a test server
 * migrates at start, and on PGlite may as well start from the migrated copy.
 */
export async function isolatedDatabase(
  t: Tap,
  forcePglite = false,
  embedded: TemplateKind = 'empty',
): Promise<Partial<Config>> {
  const url = process.env.DATABASE_URL;
  if (!url || forcePglite)
    return { databaseUrl: undefined, dataDir: await embeddedDataDir(t, embedded) };
  const schema = `t_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.end();
  t.teardown(async () => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    await client.query(`DROP SCHEMA ${schema} CASCADE`);
    await client.end();
  });
  const options = encodeURIComponent(`-c search_path=${schema}`);
  return {
    databaseUrl: `${url}${url.includes('?') ? '&' : '?'}options=${options}`,
    dataDir: tempDataDir(t),
  };
}

export interface Running {
  app: FastifyInstance;
  /** The FHIR base, e.g. http://127.0.0.1:PORT/fhir */
  base: string;
  config: Config;
  close(): Promise<void>;
}

/** Starts a real server on a loopback port; closed when the test ends. */
export async function startServer(t: Tap, config: Config, parts: AppParts = {}): Promise<Running> {
  // TEST_STORE=healthlake: the same server on FHIR_STORE=healthlake, against an emulator.
  if (process.env.TEST_STORE === 'healthlake' && !parts.store && config.store !== 'healthlake') {
    const { backWithHealthLake } = await import('./healthlake/harness.js');
    await backWithHealthLake(t, config);
  }
  const app = await buildApp(config, parts);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as AddressInfo;
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await app.close();
  };
  t.teardown(close);
  // Links are built on FHIR_BASE_URL; point it at the port we actually got.
  (config as { baseUrl: string }).baseUrl = `http://127.0.0.1:${port}/fhir`;
  return { app, base: `http://127.0.0.1:${port}/fhir`, config, close };
}

/**
 * Config for a test: an isolated database, quiet logs, overrides on top. R4 validation is
 * always on; US Core defaults are off unless a test turns them on (test/validation does), so
 * tests of storage and search can use resources US Core would refuse (a Patient without
 * gender for :missing, say). No reminder timer: test/reminders drive sending with runDue.
 */
export async function testConfig(t: Tap, overrides: Partial<Config> = {}, forcePglite = false) {
  await testBuildFiles();
  const db = await isolatedDatabase(t, forcePglite, 'migrated');
  return {
    ...loadConfig({
      LOG_LEVEL: 'silent',
      VALIDATION_DEFAULT_PROFILES: 'none',
      // A test's embedded database holds a few hundred rows: a small buffer pool opens faster.
      EMBEDDED_SHARED_BUFFERS_MB: '16',
      AUTH_HS256_SECRET: TEST_SECRET,
      AUTH_ISSUER: TEST_ISSUER,
      AUTH_AUDIENCE: TEST_AUDIENCE,
      // Reminders are sent when a test calls runDue, not by a timer racing its assertions.
      REMINDER_POLL_MS: '0',
    }),
    ...db,
    ...overrides,
  } as Config;
}

/** A running server on an isolated database. */
export async function startTestServer(t: Tap, overrides: Partial<Config> = {}) {
  return startServer(t, await testConfig(t, overrides));
}

export const TEST_SECRET = 'telefhir-test-secret-0123456789abcdef';
export const TEST_ISSUER = 'https://auth.telefhir.test';
export const TEST_AUDIENCE = 'telefhir-test';

/** A token for the test servers: a backend service with full access unless claims say otherwise. */
export function testToken(claims: Record<string, unknown> = {}, expiresInSeconds = 300): string {
  const sign = createSigner({
    key: TEST_SECRET,
    algorithm: 'HS256',
    expiresIn: expiresInSeconds * 1000,
  });
  return sign({
    iss: TEST_ISSUER,
    aud: TEST_AUDIENCE,
    sub: 'test-system',
    scope: 'system/*.*',
    ...claims,
  });
}

const SYSTEM_TOKEN = testToken({}, 3600);

export const FHIR_JSON = 'application/fhir+json';

export async function fhir(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
) {
  const response = await fetch(path ? `${base}/${path}` : base, {
    method,
    headers: {
      authorization: `Bearer ${SYSTEM_TOKEN}`,
      accept: FHIR_JSON,
      ...(body !== undefined ? { 'content-type': FHIR_JSON } : {}),
      ...headers,
    },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  let json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, body: json };
}

/** Collects every log line the app writes, for assertions about what is (not) logged. */
export function logCapture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { stream, lines, text: () => lines.join('') };
}
