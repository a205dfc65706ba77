import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Bundle, BundleEntry, Resource } from 'fhir/r4.js';
import { historyBundle } from '../../src/fhir/bundle.js';
import { buildApp } from '../../src/app.js';
import type { Config } from '../../src/config.js';
import { FhirError } from '../../src/fhir/errors.js';
import { openPostgresStore } from '../../src/store/postgres/open.js';
import type { PostgresStore } from '../../src/store/postgres/postgres-store.js';
import { verifySigV4 } from './sigv4.js';

/**
 * An AWS HealthLake data store on loopback. It refuses, as AWS does, any request whose SigV4
 * signature (signing name `healthlake`) does not verify; serves HealthLake's URL layout
 * (`/datastore/{id}/r4/...`) and its absolute `next` links with an opaque `page` token; answers
 * DescribeFHIRDatastore (the control plane, AWS JSON 1.0) on `/`. Behind the front door is a real
 * FHIR server — telefhir itself on the Postgres store, in its own schema — so what it stores and
 * finds is real, not canned. A test double, not part of the server.
 */

export type HealthLakeFault = 'server-error' | 'throttle' | 'hang' | 'close' | 'malformed';

export interface SeenRequest {
  method: string;
  /** Relative to the data store base, e.g. `Patient/1`. */
  path: string;
  /** As received (still encoded). */
  query: string;
  headers: IncomingMessage['headers'];
  body: string;
}

export interface HealthLakeEmulator {
  /** `http://127.0.0.1:PORT`: the control plane endpoint (AWS_ENDPOINT_URL_HEALTHLAKE). */
  origin: string;
  /** The data store's FHIR base, HEALTHLAKE_ENDPOINT. */
  endpoint: string;
  datastoreId: string;
  /** Data-plane requests that passed the signature check, in order. */
  requests: SeenRequest[];
  /** Why each refused request was refused (verifier reasons). */
  rejections: string[];
  /** The next `count` signed data-plane requests get `fault` instead of an answer. */
  failNext(count: number, fault: HealthLakeFault): void;
  /** What DescribeFHIRDatastore reports (ACTIVE by default). */
  setStatus(status: 'ACTIVE' | 'CREATING' | 'DELETING' | 'DELETED'): void;
  stop(): Promise<void>;
}

export async function startHealthLakeEmulator(options: {
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  region: string;
  /** Config for the FHIR server behind the front door (its own database). */
  backend: Config;
  /** A bearer token the backend accepts with full access. */
  backendToken: string;
  datastoreId?: string;
}): Promise<HealthLakeEmulator> {
  const datastoreId = options.datastoreId ?? '0123456789abcdef0123456789abcdef';
  const prefix = `/datastore/${datastoreId}/r4`;
  const faults: HealthLakeFault[] = [];
  const hanging = new Set<ServerResponse>();
  const requests: SeenRequest[] = [];
  const rejections: string[] = [];
  let status = 'ACTIVE';
  let backend: FastifyInstance | undefined;
  let store: PostgresStore | undefined;

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) outcome(res, 500, 'exception', String(err));
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const query = q < 0 ? '' : url.slice(q + 1);
    const method = req.method ?? 'GET';
    const verdict = await verifySigV4(
      { method, path, query, headers: req.headers, body },
      { service: 'healthlake', region: options.region, credentials: options.credentials },
    );
    if (!verdict.ok) {
      rejections.push(verdict.reason);
      // HealthLake's front door: 403, the type in x-amzn-ErrorType, a lowercase `message`.
      return sendJson(res, 403, { message: verdict.reason }, { 'x-amzn-errortype': verdict.code });
    }
    if (path === '/' && method === 'POST') return controlPlane(req, res, body);
    if (path !== prefix && !path.startsWith(`${prefix}/`)) {
      return outcome(res, 404, 'not-found', `No data store at ${path}`);
    }
    const relative = path.slice(prefix.length + 1);
    requests.push({ method, path: relative, query, headers: req.headers, body: body.toString() });

    const fault = faults.shift();
    if (fault) return injected(req, res, fault);

    const form = (req.headers['content-type'] ?? '').startsWith(
      'application/x-www-form-urlencoded',
    );
    if (method === 'POST' && relative.endsWith('_search') && form && query !== '') {
      return outcome(res, 400, 'invalid', 'Search parameters go in the URL or the body, not both');
    }
    if (relative === '' && method === 'POST' && (await transaction(res, body))) return;
    if (relative === 'Binary/_history' && method === 'GET') return binaryHistory(res, query);
    const binary = /^Binary\/([A-Za-z0-9.-]{1,64})(?:\/_history\/(\d+))?$/.exec(relative);
    if (binary) return plainBinary(res, method, binary[1]!, binary[2], body);
    // HealthLake's opaque `page` token is telefhir's `_cursor` behind this front door.
    const inner = new URLSearchParams(query);
    const page = inner.get('page');
    if (page !== null) {
      inner.delete('page');
      inner.set('_cursor', page);
    }
    const search = inner.toString();
    const forwarded: Record<string, string> = { authorization: `Bearer ${options.backendToken}` };
    for (const name of ['content-type', 'accept', 'if-match', 'if-none-exist', 'prefer']) {
      const value = req.headers[name];
      if (typeof value === 'string') forwarded[name] = value;
    }
    const answer = await backend!.inject({
      method: method as 'GET',
      url: `/fhir/${relative}${search ? `?${search}` : ''}`,
      headers: forwarded,
      ...(body.length ? { payload: body } : {}),
    });
    const headers: Record<string, string> = {};
    for (const name of ['content-type', 'etag', 'location', 'content-location', 'last-modified']) {
      const value = answer.headers[name];
      if (typeof value === 'string') headers[name] = value;
    }
    res.writeHead(answer.statusCode, { ...headers, 'x-amzn-requestid': randomUUID() });
    res.end(answer.body.replace(/([?&])_cursor=/g, '$1page='));
  }

  /**
   * HealthLake keeps a Binary as the resource it is sent. telefhir's own Binary routes would
   * move its bytes to a blob store of the emulator's, so Binary by id goes to the store here.
   */
  async function plainBinary(
    res: ServerResponse,
    method: string,
    id: string,
    version: string | undefined,
    body: Buffer,
  ) {
    const ctx = { requestId: 'emulator', access: 'unrestricted' as const };
    try {
      if (method === 'PUT' && !version) {
        const sent = JSON.parse(body.toString()) as Resource;
        const { resource, created } = await store!.update({ ...sent, id } as Resource, ctx);
        return sendJson(res, created ? 201 : 200, resource, {
          'content-type': 'application/fhir+json',
        });
      }
      if (method === 'GET') {
        const found = version
          ? await store!.vread('Binary', id, version, ctx)
          : await store!.read('Binary', id, ctx);
        return sendJson(res, 200, found, { 'content-type': 'application/fhir+json' });
      }
      if (method === 'DELETE' && !version) {
        await store!.delete('Binary', id, ctx);
        res.writeHead(204).end();
        return;
      }
      return outcome(res, 405, 'not-supported', `${method} on Binary/${id}`);
    } catch (err) {
      if (err instanceof FhirError)
        return outcome(res, err.statusCode, err.issueCode, err.diagnostics);
      return outcome(res, 400, 'invalid', 'malformed Binary');
    }
  }

  /**
   * A transaction Bundle of PUT and DELETE entries (what the facade sends), applied in one
   * Postgres transaction of the store: all or nothing, as HealthLake's transactions are. Other
   * entries go to telefhir's own transaction route.
   */
  async function transaction(res: ServerResponse, body: Buffer): Promise<boolean> {
    let bundle: Bundle;
    try {
      bundle = JSON.parse(body.toString()) as Bundle;
    } catch {
      outcome(res, 400, 'invalid', 'malformed Bundle');
      return true;
    }
    const entries = bundle.entry ?? [];
    const plain = entries.every((e) => ['PUT', 'DELETE'].includes(e.request?.method ?? ''));
    if (bundle.type !== 'transaction' || !plain) return false;
    const ctx = { requestId: 'emulator', access: 'unrestricted' as const };
    try {
      const answers = await store!.transaction(async (tx) => {
        const out: BundleEntry[] = [];
        for (const entry of entries) {
          const [type, id] = (entry.request!.url ?? '').split('/');
          if (entry.request!.method === 'DELETE') {
            await tx.delete(type!, id!, ctx);
            out.push({ response: { status: '204 No Content' } });
            continue;
          }
          const ifMatch = /(\d+)/.exec(entry.request!.ifMatch ?? '')?.[1];
          const { resource, created } = await tx.update(
            { ...entry.resource, id } as Resource,
            ctx,
            ifMatch,
          );
          out.push({
            resource: resource as BundleEntry['resource'],
            response: {
              status: created ? '201 Created' : '200 OK',
              etag: `W/"${resource.meta!.versionId}"`,
              lastModified: resource.meta!.lastUpdated,
            },
          });
        }
        return out;
      });
      sendJson(
        res,
        200,
        { resourceType: 'Bundle', type: 'transaction-response', entry: answers },
        { 'content-type': 'application/fhir+json' },
      );
    } catch (err) {
      if (!(err instanceof FhirError)) throw err;
      outcome(res, err.statusCode, err.issueCode, err.diagnostics);
    }
    return true;
  }

  /** Binary's type history (telefhir's own Binary routes don't serve it). */
  async function binaryHistory(res: ServerResponse, query: string) {
    const count = Number(new URLSearchParams(query).get('_count') ?? 100);
    const page = await store!.history(
      { type: 'Binary', count },
      { requestId: 'emulator', access: 'unrestricted' },
    );
    return sendJson(res, 200, historyBundle(`${origin}${prefix}`, page.versions, page.total, []), {
      'content-type': 'application/fhir+json',
    });
  }

  function injected(req: IncomingMessage, res: ServerResponse, fault: HealthLakeFault) {
    switch (fault) {
      case 'hang':
        hanging.add(res);
        res.on('close', () => hanging.delete(res));
        return;
      case 'close':
        req.socket.destroy();
        return;
      case 'malformed':
        res.writeHead(200, { 'content-type': 'application/fhir+json' });
        res.end('{"resourceType": "Bundle", "entry": [');
        return;
      case 'throttle':
        return sendJson(
          res,
          429,
          { message: 'Rate exceeded' },
          { 'x-amzn-errortype': 'ThrottlingException' },
        );
      case 'server-error':
        return outcome(res, 500, 'exception', 'injected server error');
    }
  }

  function controlPlane(req: IncomingMessage, res: ServerResponse, body: Buffer) {
    const target = req.headers['x-amz-target'];
    const json = (payload: unknown, code = 200) =>
      sendJson(res, code, payload, { 'content-type': 'application/x-amz-json-1.0' });
    if (target !== 'HealthLake.DescribeFHIRDatastore') {
      return json({ __type: 'UnknownOperationException', message: String(target) }, 400);
    }
    let input: { DatastoreId?: unknown };
    try {
      input = JSON.parse(body.toString() || '{}') as { DatastoreId?: unknown };
    } catch {
      return json({ __type: 'ValidationException', message: 'malformed JSON' }, 400);
    }
    if (input.DatastoreId !== datastoreId) {
      return json({ __type: 'ResourceNotFoundException', message: 'Datastore not found' }, 400);
    }
    return json({
      DatastoreProperties: {
        DatastoreId: datastoreId,
        DatastoreArn: `arn:aws:healthlake:${options.region}:123456789012:datastore/fhir/${datastoreId}`,
        DatastoreName: 'telefhir-emulated',
        DatastoreStatus: status,
        CreatedAt: 1700000000,
        DatastoreTypeVersion: 'R4',
        DatastoreEndpoint: endpoint,
      },
    });
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;
  const endpoint = `${origin}${prefix}/`;
  try {
    // Without the write hooks: the appointment ledger belongs to the facade in front, and its
    // advisory locks (database-wide) would otherwise meet the facade's own while it waits for us.
    const config = { ...options.backend, baseUrl: `${origin}${prefix}` };
    store = await openPostgresStore(config, []);
    // Stored as given: HealthLake neither assigns MRNs nor seals SSNs (the facade does).
    backend = await buildApp(config, { store, storeAsGiven: true });
  } catch (err) {
    server.close();
    throw err;
  }

  return {
    origin,
    endpoint,
    datastoreId,
    requests,
    rejections,
    failNext(count, fault) {
      for (let i = 0; i < count; i++) faults.push(fault);
    },
    setStatus(next) {
      status = next;
    },
    async stop() {
      if (!server.listening) return;
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) =>
        server.close((e) => (e ? reject(e) : resolve())),
      );
      await backend?.close();
    },
  };
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
) {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    ...headers,
    'x-amzn-requestid': randomUUID(),
  });
  res.end(payload);
}

function outcome(res: ServerResponse, status: number, code: string, diagnostics: string) {
  sendJson(
    res,
    status,
    { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, diagnostics }] },
    { 'content-type': 'application/fhir+json' },
  );
}
