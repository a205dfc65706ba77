import type { FastifyInstance } from 'fastify';
import { parsePrefer } from '../fhir/prefer.js';
import { processBundle } from './interactions/bundle.js';
import { exchangeOf } from '../exchange/request.js';

/** `POST [base]`: batch and transaction Bundles. */
export async function bundleRoutes(app: FastifyInstance) {
  app.post('/', async (request, reply) => {
    const prefer = parsePrefer(request.headers.prefer).return;
    const result = await processBundle(exchangeOf(app, request), request.body, prefer, request.log);
    return reply.code(result.status).send(result.resource);
  });
}
