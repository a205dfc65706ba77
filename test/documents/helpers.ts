/** What the document tests share: a server with its own blob store, raw HTTP, and counts. */
import { createHash, randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import type { Config } from '../../src/config.js';
import { fhir, startServer, tempDataDir, testConfig, testToken, type Running } from '../helpers.js';

type Tap = Parameters<typeof tempDataDir>[0];
export type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export const MIB = 1024 * 1024;
export const SYSTEM = { authorization: `Bearer ${testToken({}, 3600)}` };

export const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');
export const sha1Base64 = (data: Buffer) => createHash('sha1').update(data).digest('base64');

/** A server whose blobs go to a DATA_DIR of the test's own (or to `blobs` settings given). */
export async function startDocumentServer(
  t: Tap,
  blobs: Partial<Config['blobs']> = {},
  overrides: Partial<Config> = {},
): Promise<Running & { dataDir: string }> {
  const dataDir = tempDataDir(t);
  const config = await testConfig(t, { dataDir, ...overrides });
  config.blobs = { ...config.blobs, ...blobs };
  return { ...(await startServer(t, config)), dataDir };
}

/** Every file under the local store's directory, temporary ones included. */
export async function blobFiles(dataDir: string): Promise<string[]> {
  const entries = await readdir(join(dataDir, 'blobs'), {
    recursive: true,
    withFileTypes: true,
  }).catch(() => []);
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name));
}

/** How many current resources of `type` the server holds (asked with full access). */
export async function count(base: string, type: string): Promise<number> {
  const res = await fhir(base, 'GET', `${type}?_summary=count`);
  if (res.status !== 200) throw new Error(`counting ${type}: ${res.status} ${res.text}`);
  return res.body.total as number;
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  json(): Json;
}

/**
 * One request over node:http, the body written piece by piece. Resolves with the response
 * even when the server answers before the body is through (413) and closes the connection.
 */
export function rawRequest(
  url: string,
  method: string,
  headers: Record<string, string>,
  body?: Buffer,
  piece = 256 * 1024,
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        const data = Buffer.concat(chunks);
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: data,
          json: () => JSON.parse(data.toString('utf8')) as Json,
        });
      });
    });
    let answered = false;
    req.on('response', () => (answered = true));
    req.on('error', (error) => {
      if (!answered) setTimeout(() => reject(error), 200); // a response may still be parsed
    });
    void (async () => {
      for (let offset = 0; body && offset < body.length && !answered; offset += piece) {
        const ok = req.write(body.subarray(offset, offset + piece));
        if (!ok) {
          await new Promise<void>((resolve) => {
            const done = () => {
              req.off('drain', done).off('close', done);
              resolve();
            };
            req.on('drain', done).on('close', done);
          });
        }
        if (req.destroyed) return;
      }
      req.end();
    })();
  });
}

/**
 * Sends `sent` bytes of a body declared longer, then destroys the socket: a client that goes
 * away mid-upload.
 */
export async function interruptedUpload(
  url: string,
  headers: Record<string, string>,
  sent: number,
): Promise<void> {
  const req = request(url, {
    method: 'POST',
    headers: { ...headers, 'content-length': String(sent * 4) },
  });
  req.on('error', () => {}); // the drop is the point
  const data = randomBytes(sent);
  for (let offset = 0; offset < sent; offset += 64 * 1024) {
    await new Promise<void>((resolve, reject) =>
      req.write(data.subarray(offset, offset + 64 * 1024), (e) => (e ? reject(e) : resolve())),
    );
  }
  req.destroy();
}

/** Polls until `check` holds (or gives up after `ms`): for what the server does after a drop. */
export async function eventually(check: () => Promise<boolean>, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return check();
}
