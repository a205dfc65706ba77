import type { FastifyInstance } from 'fastify';
import { contextOf, requireId, requireInteraction } from './guards.js';
import { etag, versionHeaders } from './respond.js';

interface Params {
  type: string;
  id: string;
  vid: string;
}

/** read and vread; a matching If-None-Match on read is answered 304. */
export async function readRoutes(app: FastifyInstance) {
  app.get<{ Params: Params }>('/:type/:id', async (request, reply) => {
    const { type, id } = request.params;
    requireInteraction(type, 'read');
    requireId(id);
    const resource = await app.store.read(type, id, contextOf(request));
    versionHeaders(reply, resource);
    const tag = resource.meta?.versionId && etag(resource.meta.versionId);
    if (tag && request.headers['if-none-match']?.split(',').some((t) => t.trim() === tag)) {
      return reply.code(304).removeHeader('content-type').send();
    }
    return resource;
  });

  app.get<{ Params: Params }>('/:type/:id/_history/:vid', async (request, reply) => {
    const { type, id, vid } = request.params;
    requireInteraction(type, 'vread');
    requireId(id);
    const resource = await app.store.vread(type, id, vid, contextOf(request));
    versionHeaders(reply, resource);
    return resource;
  });
}
