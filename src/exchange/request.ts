import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Parameters } from 'fhir/r4.js';
import { FhirError } from '../fhir/errors.js';
import { parsePrefer } from '../fhir/prefer.js';
import { FormBody } from '../http/content-negotiation.js';
import type { Exchange } from './exchange.js';
import { policyOf } from '../auth/authorize.js';
import type { AccessPolicy } from '../auth/policy.js';
import type { RequestContext } from '../store/store.js';

/** The caller's policy, built once per request from its token and headers. */
export function requestPolicy(app: FastifyInstance, request: FastifyRequest): AccessPolicy {
  return policyOf(request, { providerScope: app.config.providerAccess });
}

export function contextOf(request: FastifyRequest, policy: AccessPolicy): RequestContext {
  return { requestId: request.id, access: policy };
}

export function exchangeOf(app: FastifyInstance, request: FastifyRequest): Exchange {
  const policy = requestPolicy(app, request);
  return {
    store: app.store,
    ctx: contextOf(request, policy),
    baseUrl: app.config.baseUrl,
    strict: parsePrefer(request.headers.prefer).strict,
    validator: app.validator,
    policy,
    address: request.ip,
    log: request.log,
    searchParams: app.identity && ((params) => app.identity!.searchParams(params)),
    sealSsns: app.identity && ((resource) => app.identity!.sealNumbers(resource)),
  };
}

/** A POSTed operation's Parameters body (none: no parameters); anything else is 415 or 400. */
export function bodyParameters(body: unknown): Parameters {
  if (body === undefined || body === null || body === '') return { resourceType: 'Parameters' };
  if (body instanceof FormBody || typeof body !== 'object') {
    throw new FhirError(415, 'not-supported', 'The body must be a Parameters resource (JSON)');
  }
  if ((body as Parameters).resourceType !== 'Parameters') {
    throw new FhirError(400, 'structure', 'The body must be a Parameters resource');
  }
  return body as Parameters;
}
