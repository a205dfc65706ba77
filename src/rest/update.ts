import type { FastifyInstance } from 'fastify';
import { FhirError } from '../fhir/errors.js';
import { contextOf, requireId, requireInteraction, resourceBody } from './guards.js';
import { sendWritten } from './respond.js';

/** `W/"3"`, `"3"` or `3` → `3`. */
export function ifMatchVersion(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const match = /^\s*(?:W\/)?"?([1-9]\d{0,8})"?\s*$/.exec(header);
  if (!match) {
    throw new FhirError(412, 'conflict', 'If-Match must name a version, like W/"3"');
  }
  return match[1];
}

export async function updateRoutes(app: FastifyInstance) {
  app.put<{ Params: { type: string; id: string } }>('/:type/:id', async (request, reply) => {
    const { type, id } = request.params;
    requireInteraction(type, 'update');
    requireId(id);
    const resource = resourceBody(request, type);
    if (resource.id === undefined) {
      throw new FhirError(400, 'required', `The body must carry id "${id}"`, `${type}.id`);
    }
    if (resource.id !== id) {
      throw new FhirError(
        400,
        'invalid',
        `Body id "${resource.id}" does not match URL id "${id}"`,
        `${type}.id`,
      );
    }
    const ifMatch = ifMatchVersion(request.headers['if-match']);
    const result = await app.store.update(resource, contextOf(request), ifMatch);
    const status = result.created ? 201 : 200;
    const summary = `${result.created ? 'Created' : 'Updated'} ${type}/${id}`;
    return sendWritten(request, reply, status, result.resource, summary);
  });
}
