import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { FhirError } from '../fhir/errors.js';
import { RETRY_AFTER_SECONDS, sendError } from './error-handler.js';

/**
 * A request that arrives while the server is closing (on a connection already open: new ones
 * are no longer accepted) is refused with a 503 OperationOutcome and `Connection: close`, so
 * the client retries elsewhere. Fastify's own `return503OnClosing` answers in its own JSON.
 */
export const refuseWhileClosing = fp(async (app: FastifyInstance) => {
  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  app.addHook('onRequest', (request, reply, done) => {
    if (!closing) return done();
    reply.header('connection', 'close');
    void sendError(
      request,
      reply,
      new FhirError(503, 'transient', 'The server is shutting down; try again', undefined, {
        'retry-after': String(RETRY_AFTER_SECONDS),
      }),
    );
  });
});
