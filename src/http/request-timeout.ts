import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { FhirError } from '../fhir/errors.js';
import { RETRY_AFTER_SECONDS, sendError } from './error-handler.js';

/**
 * REQUEST_TIMEOUT_MS: the last bound on a request, after the database's own (statement and
 * lock timeouts end a stuck query with a 503 through the normal error path, audited). Anything
 * else that never answers (an upstream that hangs, a wait no timeout covers) gets a 503
 * OperationOutcome here instead of a connection left open. The handler may still finish later;
 * its audit records what really happened, and its late reply is dropped. (Node's own
 * `requestTimeout` bounds only the receiving of a request, and answers it in plain text.)
 */
export const requestTimeout = fp(async (app: FastifyInstance, options: { timeoutMs: number }) => {
  const { timeoutMs } = options;
  if (!timeoutMs) return;
  app.addHook('onRequest', (request, reply, done) => {
    const timer = setTimeout(() => {
      if (reply.sent || reply.raw.headersSent) return;
      request.log.warn({ timeoutMs }, 'request timed out');
      void sendError(
        request,
        reply,
        new FhirError(
          503,
          'timeout',
          `The request was not answered within ${timeoutMs} ms; try again later`,
          undefined,
          { 'retry-after': String(RETRY_AFTER_SECONDS) },
        ),
      );
    }, timeoutMs);
    // 'close': the response went out, or the connection is gone; either way, nothing to time.
    reply.raw.once('close', () => clearTimeout(timer));
    done();
  });
});
