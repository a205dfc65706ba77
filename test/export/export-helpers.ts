/**
 * What the $export tests share: a server whose worker the test runs itself (EXPORT_POLL_MS=0),
 * the $everything world (p1, p2 and their records; dr1, dr2), a Group of p1, and helpers for
 * kick-off, the worker step, polling and downloads.
 */
import type { Resource } from 'fhir/r4.js';
import type { AppParts } from '../../src/app.js';
import type { Config } from '../../src/config.js';
import { workOnce } from '../../src/export/worker.js';
import { fhir, startServer, testConfig, testToken, type Running } from '../helpers.js';
import { seedWorld, type Json } from '../operations/everything-helpers.js';
import { observation } from '../fixtures.js';

type Tap = import('tap').Test;

export const bearer = (claims: Record<string, unknown>) => ({
  authorization: `Bearer ${testToken(claims)}`,
});

/** Backend services (client_credentials tokens: sub is the client). */
export const SERVICE = bearer({ sub: 'svc-a', client_id: 'svc-a', scope: 'system/*.rs' });
export const OTHER_SERVICE = bearer({ sub: 'svc-b', client_id: 'svc-b', scope: 'system/*.rs' });
/** The same client acting for another user. */
export const SAME_CLIENT_OTHER_USER = bearer({
  sub: 'someone-else',
  client_id: 'svc-a',
  scope: 'system/*.rs',
});
export const ASYNC = { prefer: 'respond-async' };

export async function exportServer(
  t: Tap,
  bulkExport: Partial<Config['bulkExport']> = {},
  parts: AppParts = {},
  overrides: Partial<Config> = {},
): Promise<Running> {
  const config = await testConfig(t, overrides);
  config.bulkExport = { ...config.bulkExport, pollMs: 0, ...bulkExport };
  const running = await startServer(t, config, parts);
  await seedWorld(running.base);
  const group = {
    resourceType: 'Group',
    id: 'g1',
    type: 'person',
    actual: true,
    member: [{ entity: { reference: 'Patient/p1' } }],
  };
  const res = await fhir(running.base, 'PUT', 'Group/g1', group);
  if (res.status >= 300) throw new Error(`seeding the Group: ${res.text}`);
  return running;
}

/** Kick-off; the status URL relative to the base (for `fhir()`), or the response when refused. */
export async function kick(
  base: string,
  path: string,
  headers: Record<string, string>,
  body?: unknown,
) {
  const res = await fhir(base, body === undefined ? 'GET' : 'POST', path, body, {
    ...ASYNC,
    ...headers,
  });
  const location = res.headers.get('content-location') ?? '';
  return { res, status: location.slice(base.length + 1) };
}

/** Runs the worker until no job waits. */
export async function drain(running: Running) {
  while (await workOnce(running.app.exportWorker)) {
    // next job
  }
}

export interface Manifest {
  transactionTime: string;
  request: string;
  requiresAccessToken: boolean;
  output: { type: string; url: string; count: number }[];
  error: { type: string; url: string; count: number }[];
  deidentification?: { method: string; removed: string[] };
}

/** Every resource of a finished export, downloaded with `headers`. */
export async function download(base: string, manifest: Manifest, headers: Record<string, string>) {
  const resources: Resource[] = [];
  for (const file of manifest.output) {
    const res = await fhir(base, 'GET', file.url.slice(base.length + 1), undefined, {
      accept: 'application/fhir+ndjson',
      ...headers,
    });
    if (res.status !== 200) throw new Error(`download ${file.url}: ${res.status} ${res.text}`);
    const lines = res.text.split('\n').filter(Boolean);
    if (lines.length !== file.count) throw new Error(`count ${file.count} != ${lines.length}`);
    for (const line of lines) resources.push(JSON.parse(line) as Resource);
  }
  return resources;
}

export const keysOf = (resources: Json[]) =>
  resources.map((r) => `${r.resourceType}/${r.id}`).sort();

/**
 * 25 more Observations of p1 (30 Observation and Patient resources in all), then a kick-off of
 * `$export?_type=Observation,Patient` by SERVICE: the status URL and every key it must write.
 */
export async function observationExport(t: Tap, base: string) {
  for (let i = 0; i < 25; i++) {
    const res = await fhir(base, 'PUT', `Observation/extra-${i}`, {
      ...observation('Patient/p1'),
      id: `extra-${i}`,
    });
    t.equal(res.status, 201);
  }
  const { status } = await kick(base, '$export?_type=Observation,Patient', SERVICE);
  const expected = [
    ...Array.from({ length: 25 }, (_, i) => `Observation/extra-${i}`),
    'Observation/o1',
    'Observation/o2',
    'Observation/o3',
    'Patient/p1',
    'Patient/p2',
  ].sort();
  return { status, expected };
}
