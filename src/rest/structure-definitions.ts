import type { Bundle, FhirResource } from 'fhir/r4.js';
import type { FastifyInstance } from 'fastify';
import { FhirError } from '../fhir/errors.js';
import { queryOf } from './respond.js';

/** The profiles the server enforces, readable by id and listable (optionally by url). */
export async function structureDefinitionRoutes(app: FastifyInstance) {
  app.get<{ Params: { id: string } }>('/StructureDefinition/:id', async (request) => {
    const found = app.profiles.all().find((sd) => sd.id === request.params.id);
    if (!found)
      throw new FhirError(
        404,
        'not-found',
        `StructureDefinition/${request.params.id} is not known`,
      );
    return found;
  });
  app.get('/StructureDefinition', async (request): Promise<Bundle> => {
    const url = queryOf(request).get('url')?.split('|')[0];
    const matches = app.profiles.all().filter((sd) => url === undefined || sd.url === url);
    return {
      resourceType: 'Bundle',
      type: 'searchset',
      total: matches.length,
      link: [
        {
          relation: 'self',
          url: `${app.config.baseUrl}/StructureDefinition${url ? `?url=${encodeURIComponent(url)}` : ''}`,
        },
      ],
      entry: matches.map((sd) => ({
        fullUrl: `${app.config.baseUrl}/StructureDefinition/${sd.id}`,
        resource: sd as FhirResource,
        search: { mode: 'match' },
      })),
    };
  });
}
