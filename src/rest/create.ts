import type { FastifyInstance } from 'fastify';
import { contextOf, requireInteraction, resourceBody } from './guards.js';
import { sendWritten } from './respond.js';

/** `If-None-Exist: identifier=...` (a leading `Type?` is tolerated). */
function criteriaOf(header: string): URLSearchParams {
  const query = header.includes('?') ? header.slice(header.indexOf('?') + 1) : header;
  return new URLSearchParams(query);
}

export async function createRoutes(app: FastifyInstance) {
  app.post<{ Params: { type: string } }>('/:type', async (request, reply) => {
    const { type } = request.params;
    requireInteraction(type, 'create');
    const resource = resourceBody(request, type);
    const ctx = contextOf(request);
    const ifNoneExist = request.headers['if-none-exist'];
    if (typeof ifNoneExist === 'string') {
      const result = await app.store.conditionalCreate(resource, criteriaOf(ifNoneExist), ctx);
      return result.created
        ? sendWritten(request, reply, 201, result.resource, `Created ${type}/${result.resource.id}`)
        : sendWritten(
            request,
            reply,
            200,
            result.resource,
            `${type}/${result.resource.id} already exists`,
          );
    }
    const created = await app.store.create(resource, ctx);
    return sendWritten(request, reply, 201, created, `Created ${type}/${created.id}`);
  });
}
