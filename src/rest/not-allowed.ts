import type { FastifyInstance } from 'fastify';
import { FhirError } from '../fhir/errors.js';
import { RESOURCE_TYPES } from '../fhir/resource-types.js';

/**
 * Methods a FHIR URL exists for but this server doesn't serve answer 405 (with Allow), not 404:
 * the resource is there, the method isn't.
 */
export async function notAllowedRoutes(app: FastifyInstance) {
  const refuse = (allow: string) => async (request: { params: unknown }) => {
    const { type } = request.params as { type: string };
    if (!RESOURCE_TYPES.has(type)) {
      throw new FhirError(404, 'not-supported', `Resource type "${type}" is not supported`);
    }
    throw new FhirError(405, 'not-supported', `This method is not supported here`, undefined, {
      allow,
    });
  };
  app.route({ method: ['PATCH'], url: '/:type', handler: refuse('GET, POST, PUT, DELETE') });
  app.route({ method: ['POST', 'PATCH'], url: '/:type/:id', handler: refuse('GET, PUT, DELETE') });
}
