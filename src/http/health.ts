import type { FastifyInstance } from 'fastify';
import { FhirError } from '../fhir/errors.js';

/** Liveness (the process answers) and readiness (the store answers), outside /fhir. */
export async function health(app: FastifyInstance) {
  app.get('/healthz', { config: { public: true } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { config: { public: true } }, async (request) => {
    try {
      await app.store.ping();
    } catch (err) {
      request.log.warn({ err }, 'store unreachable');
      throw new FhirError(503, 'transient', 'The clinical store is unreachable');
    }
    return { status: 'ready' };
  });
}
