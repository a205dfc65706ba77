import type { Resource } from 'fhir/r4.js';
import { FhirError } from '../fhir/errors.js';
import { FormBody } from '../http/content-negotiation.js';
import { ID_PATTERN, RESOURCE_TYPES, type Interaction } from '../fhir/resource-types.js';

/** Unknown type → 404; a type that doesn't allow the interaction → 405. */
export function requireInteraction(type: string, interaction: Interaction): void {
  const allowed = RESOURCE_TYPES.get(type);
  if (!allowed)
    throw new FhirError(404, 'not-supported', `Resource type "${type}" is not supported`);
  if (!allowed.includes(interaction)) {
    throw new FhirError(405, 'not-supported', `${interaction} is not allowed on ${type}`);
  }
}

export function requireId(id: string): void {
  if (!ID_PATTERN.test(id)) {
    throw new FhirError(
      400,
      'value',
      'A resource id is 1-64 characters of A-Z, a-z, 0-9, "-" and "."',
    );
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The request body as a resource of `type`. The full R4 and profile validation runs later;
 * this is what must hold before anything else can even look at the body.
 */
export function resourceBody(body: unknown, type: string): Resource {
  if (body === undefined) throw new FhirError(400, 'required', 'A resource body is required');
  if (body instanceof FormBody) {
    throw new FhirError(415, 'not-supported', 'A resource body must be application/fhir+json');
  }
  if (!isObject(body)) throw new FhirError(400, 'structure', 'The body must be a JSON object');
  if (body.resourceType !== type) {
    throw new FhirError(
      400,
      'invalid',
      `Body resourceType ${JSON.stringify(body.resourceType ?? null)} does not match the URL type ${type}`,
      'resourceType',
    );
  }
  if (body.meta !== undefined && !isObject(body.meta)) {
    throw new FhirError(400, 'structure', 'meta must be an object', `${type}.meta`);
  }
  return body as unknown as Resource;
}
