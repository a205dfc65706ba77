import type { OperationOutcomeIssue, Parameters, ParametersParameter, Resource } from 'fhir/r4.js';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { authorize } from '../auth/authorize.js';
import type { Access } from '../auth/policy.js';
import { FhirError } from '../fhir/errors.js';
import { loadOperation, readParameters } from '../fhir/operation-parameters.js';
import { operationOutcome } from '../fhir/outcome.js';
import { requireId, requireInteraction } from '../exchange/guards.js';
import { audited } from '../exchange/audited.js';
import type { Exchange } from '../exchange/exchange.js';
import { exchangeOf } from '../exchange/request.js';
import { queryOf } from './respond.js';

const DEFINITION = loadOperation('validate.json');
const MODES = ['create', 'update', 'delete'];

interface ValidateRequest {
  resource: Resource | undefined;
  mode: string | undefined;
  profile: string | undefined;
}

const stringValue = (p: ParametersParameter | undefined) =>
  p?.valueCode ?? p?.valueUri ?? p?.valueCanonical ?? p?.valueString;

/** The body is a Parameters (resource, mode, profile) or, as the spec allows, the resource itself. */
function readRequest(request: FastifyRequest, type: string): ValidateRequest {
  const body = request.body as Record<string, unknown> | undefined;
  const query = queryOf(request);
  if (body?.resourceType === 'Parameters' && type !== 'Parameters') {
    const params = readParameters(DEFINITION, body as unknown as Parameters);
    return {
      resource: params.get('resource')?.[0]?.resource as Resource | undefined,
      mode: stringValue(params.get('mode')?.[0]) ?? query.get('mode') ?? undefined,
      profile: stringValue(params.get('profile')?.[0]) ?? query.get('profile') ?? undefined,
    };
  }
  if (body !== undefined && (typeof body !== 'object' || body === null || Array.isArray(body))) {
    throw new FhirError(400, 'structure', 'The body must be a Parameters resource or a resource');
  }
  return {
    resource: body as Resource | undefined,
    mode: query.get('mode') ?? undefined,
    profile: query.get('profile') ?? undefined,
  };
}

/**
 * $validate: the checks a create, update or delete would run, answered as an
 * OperationOutcome (200 whatever it finds); nothing is stored.
 */
export async function validateRoutes(app: FastifyInstance) {
  const check = async (
    ex: Exchange,
    request: FastifyRequest,
    type: string,
    id: string | undefined,
  ) => {
    requireInteraction(type, 'read');
    if (id !== undefined) requireId(id);
    const { resource, mode, profile } = readRequest(request, type);
    if (mode !== undefined && !MODES.includes(mode)) {
      throw new FhirError(400, 'value', `mode must be one of ${MODES.join(', ')}`);
    }
    // Checking a write is allowed to whoever may make that write.
    authorize(ex.policy, type, (mode ?? 'create') as Access);
    const issues: OperationOutcomeIssue[] = [];
    if (mode === 'delete') {
      if (!id) throw new FhirError(400, 'required', 'mode=delete needs the resource id in the URL');
      await ex.store.read(type, id, ex.ctx); // 404/410 when there is nothing to delete
    } else {
      if (!resource) throw new FhirError(400, 'required', 'No resource to validate');
      if (resource.resourceType !== type) {
        issues.push({
          severity: 'error',
          code: 'invalid',
          diagnostics: `Expected a ${type}`,
          expression: ['resourceType'],
        });
      }
      if (
        mode === 'update' &&
        (resource.id === undefined || (id !== undefined && resource.id !== id))
      ) {
        issues.push({
          severity: 'error',
          code: 'invalid',
          diagnostics: `An update needs the resource's id${id ? ` to be "${id}"` : ''}`,
          expression: [`${type}.id`],
        });
      }
      for (const found of app.validator.validate(resource, profile ? [profile] : [])) {
        issues.push({ ...found, expression: [found.expression] });
      }
    }
    return operationOutcome(
      issues.length
        ? issues
        : [{ severity: 'information', code: 'informational', diagnostics: 'No issues found' }],
    );
  };
  // Audited as an operation: an instance-level check reads the stored resource.
  const handler = async (request: FastifyRequest, type: string, id: string | undefined) => {
    const ex = exchangeOf(app, request);
    const result = await audited(ex, { interaction: 'operation', type, id }, async (ex) => ({
      status: 200,
      resource: await check(ex, request, type, id),
    }));
    return result.resource;
  };
  app.post<{ Params: { type: string } }>('/:type/$validate', (request) =>
    handler(request, request.params.type, undefined),
  );
  app.post<{ Params: { type: string; id: string } }>('/:type/:id/$validate', (request) =>
    handler(request, request.params.type, request.params.id),
  );
}

export const VALIDATE_OPERATION = { name: 'validate', definition: DEFINITION.url! };
