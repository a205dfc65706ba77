/**
 * Operations that only read ($everything, $docref): GET with the parameters in the URL, or
 * POST with a Parameters body, both checked against the OperationDefinition. Unlike the
 * writing operations (operation.ts) they run outside a workflow transaction, are allowed
 * under break-glass (which opens reading), keep no idempotency record, and are audited as a
 * query is: one AuditEvent naming every resource returned and their patients, the parameter
 * names and never their values. Their answer is a searchset paged with sealed cursors that
 * open only for the caller and the parameters they were made for.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Bundle, OperationDefinition, Parameters, ParametersParameter } from 'fhir/r4.js';
import { openCursor, sealCursor } from '../fhir/cursor.js';
import { FhirError } from '../fhir/errors.js';
import { loadOperation, readParameters } from '../fhir/operation-parameters.js';
import { GLOBAL_PARAMS, rejectControlCharacters, single } from '../fhir/params.js';
import { audited } from '../exchange/audited.js';
import { callerDigest } from '../exchange/cursor-scope.js';
import type { Exchange } from '../exchange/exchange.js';
import { requireId } from '../exchange/guards.js';
import { bodyParameters, exchangeOf } from '../exchange/request.js';

export interface ReadCall {
  ex: Exchange;
  params: Map<string, ParametersParameter[]>;
  /** The instance, for instance-level operations. */
  id?: string;
  /** `_cursor` of a next link, still sealed: see openPage. */
  cursor?: string;
}

export interface ReadOperationSpec {
  /** File in operations/. */
  file: string;
  /** Path under /fhir, e.g. `/Patient/:id/$everything`. */
  path: string;
  run(call: ReadCall): Promise<Bundle>;
}

/** A URL parameter as the value[x] its definition declares, so GET and POST read alike. */
function parameterOf(name: string, type: string | undefined, raw: string): ParametersParameter {
  switch (type) {
    case 'integer':
    case 'positiveInt':
    case 'unsignedInt':
      if (!/^-?\d{1,9}$/.test(raw)) {
        throw new FhirError(400, 'invalid', `Parameter "${name}" must be a whole number`);
      }
      return { name, valueInteger: Number(raw) };
    case 'boolean':
      if (raw !== 'true' && raw !== 'false') {
        throw new FhirError(400, 'invalid', `Parameter "${name}" must be true or false`);
      }
      return { name, valueBoolean: raw === 'true' };
    case 'Coding': {
      // The token form: system|code, or a bare code.
      const bar = raw.indexOf('|');
      return bar < 0
        ? { name, valueCoding: { code: raw } }
        : { name, valueCoding: { system: raw.slice(0, bar), code: raw.slice(bar + 1) } };
    }
    case 'Reference':
      return { name, valueReference: { reference: raw } };
    default: {
      const key = `value${(type ?? 'string')[0]!.toUpperCase()}${(type ?? 'string').slice(1)}`;
      return { name, [key]: raw } as ParametersParameter;
    }
  }
}

/** GET's query string as a Parameters resource; a repeating parameter may be a comma list. */
export function parametersFromQuery(
  definition: OperationDefinition,
  query: URLSearchParams,
): Parameters {
  rejectControlCharacters(query);
  const parameter: ParametersParameter[] = [];
  for (const [name, value] of query) {
    if (name === '_cursor' || GLOBAL_PARAMS.has(name)) continue;
    const declared = definition.parameter?.find((p) => p.use === 'in' && p.name === name);
    const values = declared?.max === '*' ? value.split(',') : [value];
    for (const one of values) parameter.push(parameterOf(name, declared?.type, one));
  }
  return { resourceType: 'Parameters', parameter };
}

/** The parameters of a read operation as the audit trail records a query's: names only. */
function auditQuery(params: Map<string, ParametersParameter[]>): URLSearchParams {
  const query = new URLSearchParams();
  for (const name of params.keys()) query.append(name, '');
  return query;
}

export function registerReadOperation(app: FastifyInstance, spec: ReadOperationSpec) {
  const definition = loadOperation(spec.file);
  const handle = async (
    request: FastifyRequest,
    params: Map<string, ParametersParameter[]>,
    cursor: string | undefined,
  ) => {
    const ex = exchangeOf(app, request);
    const id = (request.params as { id?: string }).id;
    const target = {
      interaction: 'operation' as const,
      type: definition.resource?.[0],
      ...(id ? { id } : {}),
      query: auditQuery(params),
    };
    const result = await audited(ex, target, async (inner) => {
      if (id !== undefined) requireId(id);
      const bundle = await spec.run({
        ex: inner,
        params,
        ...(id !== undefined ? { id } : {}),
        ...(cursor !== undefined ? { cursor } : {}),
      });
      return { status: 200, resource: bundle };
    });
    return result.resource;
  };
  app.get(spec.path, async (request) => {
    const at = request.url.indexOf('?');
    const query = new URLSearchParams(at < 0 ? '' : request.url.slice(at + 1));
    const cursor = single(query, '_cursor');
    const params = readParameters(definition, parametersFromQuery(definition, query));
    return handle(request, params, cursor);
  });
  app.post(spec.path, async (request) => {
    const params = readParameters(definition, bodyParameters(request.body));
    return handle(request, params, undefined);
  });
  return definition;
}

/** A link to the operation with these parameters (and a page's cursor): absolute, on our base. */
export function operationLink(
  ex: Exchange,
  path: string,
  applied: [string, string][],
  cursor?: string,
): string {
  const params = new URLSearchParams(applied);
  if (cursor) params.set('_cursor', cursor);
  const search = params.toString();
  return `${ex.baseUrl}${path}${search ? `?${search}` : ''}`;
}

/**
 * Seals a page position for this caller and these parameters (`query`: what the operation is
 * asked, e.g. its code, instance and applied parameters).
 */
export async function sealPage(ex: Exchange, query: unknown, position: unknown): Promise<string> {
  const key = await ex.store.sharedSecret('paging');
  return sealCursor(key, { position, scope: JSON.stringify([query, callerDigest(ex.policy)]) });
}

/** The position a cursor holds, or 400 when it was made for another caller or other parameters. */
export async function openPage<T>(ex: Exchange, query: unknown, token: string): Promise<T> {
  const key = await ex.store.sharedSecret('paging');
  const { position, scope } = openCursor(key, token) as { position: T; scope: string };
  if (scope !== JSON.stringify([query, callerDigest(ex.policy)])) {
    throw new FhirError(400, 'invalid', 'The paging cursor belongs to another query');
  }
  return position;
}
