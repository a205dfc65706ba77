/**
 * Binary's own routes, ahead of the generic `/:type` ones (static segments win in Fastify's
 * router): a Binary is uploaded as raw bytes of any Content-Type, or as FHIR JSON, and read
 * back as its bytes unless the client asks for FHIR JSON. History, search and Bundle entries
 * go through the generic interactions; the store keeps the same access rule on all of them,
 * and `binaryViews` keeps the blob key out of every response.
 */
import type { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Bundle, Resource } from 'fhir/r4.js';
import { clientView } from '../fhir/binary.js';
import { FhirError } from '../fhir/errors.js';
import { FHIR_JSON } from '../http/error-handler.js';
import { readBinary, uploadBinary, type BinaryDeps } from './interactions/binary.js';
import { createResource, updateResource } from './interactions/write.js';
import { exchangeOf } from '../exchange/request.js';
import { queryOf, sendResult } from './respond.js';
import { history } from './interactions/history.js';

type Header = string | string[] | undefined;
const single = (value: Header) => (Array.isArray(value) ? value[0] : value);

/** Raw bodies arrive as the request stream itself; only FHIR JSON is parsed. */
function isRaw(body: unknown): body is Readable {
  return typeof (body as Readable | undefined)?.pipe === 'function';
}

/**
 * The Binary as FHIR JSON, or its bytes? JSON only when asked for by name (Accept or
 * _format): a browser or PDF viewer sends `*\/*` and wants the document.
 */
function wantsResource(request: FastifyRequest): boolean {
  const format = (request.query as Record<string, Header>)._format;
  if (format !== undefined) return /json/i.test(single(format) ?? '');
  const accept = single(request.headers.accept)?.toLowerCase() ?? '';
  return /application\/(fhir\+json|json\+fhir)/.test(accept);
}

async function sendBinary(
  request: FastifyRequest,
  reply: FastifyReply,
  deps: BinaryDeps,
  id: string,
  versionId?: string,
) {
  const app = request.server;
  const { result, binary, content } = await readBinary(
    exchangeOf(app, request),
    deps,
    id,
    versionId,
  );
  if (result.etag) reply.header('etag', result.etag);
  if (result.lastModified) {
    reply.header('last-modified', new Date(result.lastModified).toUTCString());
  }
  if (wantsResource(request)) {
    const chunks: Buffer[] = [];
    if (content) for await (const chunk of content.body) chunks.push(chunk as Buffer);
    const data = Buffer.concat(chunks).toString('base64');
    return reply
      .type(FHIR_JSON)
      .send({ ...result.resource, ...(content ? { data } : {}) } as Resource);
  }
  // Someone's upload served from our origin must not run as a page of it.
  reply.header('content-security-policy', "sandbox; default-src 'none'");
  reply.type(binary.contentType);
  if (!content) return reply.send('');
  reply.header('content-length', String(content.size));
  return reply.send(content.body);
}

/** The routes; `deps` are the app's blob store and the size limit. */
export async function binaryRoutes(app: FastifyInstance, deps: BinaryDeps) {
  // This plugin's own context: any media type is a raw Binary body, streamed, not parsed.
  // The JSON parsers (inherited) still take FHIR JSON; a form is a raw body here.
  app.removeContentTypeParser('application/x-www-form-urlencoded');
  app.addContentTypeParser('*', (_request, payload, done) => done(null, payload));
  // A Binary as JSON holds its bytes as base64: 4/3 of the size, plus the JSON around it.
  const bodyLimit = Math.ceil((deps.sizeLimit * 4) / 3) + 64 * 1024;

  const upload = (request: FastifyRequest) => ({
    body: request.body as Readable,
    contentType: single(request.headers['content-type']),
    securityContext: single(request.headers['x-security-context']),
  });

  app.post('/Binary', { bodyLimit }, async (request, reply) => {
    const ex = exchangeOf(app, request);
    const result = isRaw(request.body)
      ? await uploadBinary(ex, deps, upload(request))
      : await createResource(ex, 'Binary', request.body, single(request.headers['if-none-exist']));
    return sendResult(request, reply, result, true);
  });

  app.put<{ Params: { id: string } }>('/Binary/:id', { bodyLimit }, async (request, reply) => {
    const { id } = request.params;
    const ex = exchangeOf(app, request);
    const ifMatch = single(request.headers['if-match']);
    if (isRaw(request.body) && ifMatch !== undefined) {
      throw new FhirError(400, 'not-supported', 'If-Match needs a FHIR JSON Binary body');
    }
    const result = isRaw(request.body)
      ? await uploadBinary(ex, deps, upload(request), id)
      : await updateResource(ex, 'Binary', id, request.body, ifMatch);
    return sendResult(request, reply, result, true);
  });

  // Before /Binary/:id, which would take `_history` for an id: Binary's type history is the
  // ordinary one (held to access to every Binary, as a Binary search is).
  app.get('/Binary/_history', async (request, reply) =>
    sendResult(
      request,
      reply,
      await history(exchangeOf(app, request), { type: 'Binary' }, queryOf(request)),
    ),
  );

  app.get<{ Params: { id: string } }>('/Binary/:id', (request, reply) =>
    sendBinary(request, reply, deps, request.params.id),
  );

  app.get<{ Params: { id: string; vid: string } }>('/Binary/:id/_history/:vid', (request, reply) =>
    sendBinary(request, reply, deps, request.params.id, request.params.vid),
  );
}

function redacted(payload: unknown): unknown {
  const resource = payload as Resource | undefined;
  if (resource?.resourceType === 'Binary') return clientView(resource);
  const entries = resource?.resourceType === 'Bundle' ? (resource as Bundle).entry : undefined;
  if (!entries) return payload;
  let changed = false;
  const entry = entries.map((item) => {
    const shown = item.resource && redacted(item.resource);
    if (shown === item.resource) return item;
    changed = true;
    return { ...item, resource: shown as typeof item.resource };
  });
  return changed ? { ...resource, entry } : payload;
}

/**
 * The blob key never leaves the server, whichever route a Binary goes out by (search,
 * history, Bundle responses): it names where the bytes are, which is the store's business.
 */
export const binaryViews = fp(async (app: FastifyInstance) => {
  app.addHook('preSerialization', async (_request, _reply, payload) => redacted(payload));
});
