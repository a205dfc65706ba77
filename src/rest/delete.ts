import type { FastifyInstance } from 'fastify';
import { contextOf, requireId, requireInteraction } from './guards.js';

/** Deleting returns 204; deleting again is a no-op (204); deleting what never existed is 404. */
export async function deleteRoutes(app: FastifyInstance) {
  app.delete<{ Params: { type: string; id: string } }>('/:type/:id', async (request, reply) => {
    const { type, id } = request.params;
    requireInteraction(type, 'delete');
    requireId(id);
    await app.store.delete(type, id, contextOf(request));
    return reply.code(204).removeHeader('content-type').send();
  });
}
