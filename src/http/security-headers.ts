import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

/** Responses carry PHI: no sniffing, no framing, no caching by browsers or proxies. */
export const securityHeaders = fp(async (app: FastifyInstance) => {
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
    reply.header('x-content-type-options', 'nosniff');
    reply.header('x-frame-options', 'DENY');
    if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
  });
});
