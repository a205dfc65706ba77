import type { Resource } from 'fhir/r4.js';
import { authorize } from '../../auth/authorize.js';
import { FhirError } from '../../fhir/errors.js';
import { requireId, requireInteraction, resourceBody } from '../../exchange/guards.js';
import { audited } from '../../exchange/audited.js';
import { criteriaQuery } from './search.js';
import { resourceResult, type Exchange, type InteractionResult } from '../../exchange/exchange.js';
import { assertValid } from '../../exchange/assert-valid.js';

/** SSNs sealed before validation and storage, whichever store it is (src/identity/). */
const sealed = (ex: Exchange, resource: Resource): Resource => ex.sealSsns?.(resource) ?? resource;

/** `If-None-Exist: identifier=...` (a leading `Type?` is tolerated). */
export function criteriaOf(header: string): URLSearchParams {
  return new URLSearchParams(header.includes('?') ? header.slice(header.indexOf('?') + 1) : header);
}

/** `W/"3"`, `"3"` or `3` → `3`; anything else can't match any version: 412. */
export function ifMatchVersion(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const match = /^\s*(?:W\/)?"?([1-9]\d{0,8})"?\s*$/.exec(header);
  if (!match) throw new FhirError(412, 'conflict', 'If-Match must name a version, like W/"3"');
  return match[1];
}

export function createResource(
  ex: Exchange,
  type: string,
  body: unknown,
  ifNoneExist?: string,
  /** An id chosen beforehand: a transaction's urn:uuid placeholder resolved to it. */
  id?: string,
): Promise<InteractionResult> {
  return audited(ex, { interaction: 'create', type }, (ex) =>
    create(ex, type, body, ifNoneExist, id),
  );
}

async function create(
  ex: Exchange,
  type: string,
  body: unknown,
  ifNoneExist?: string,
  id?: string,
): Promise<InteractionResult> {
  requireInteraction(type, 'create');
  authorize(ex.policy, type, 'create');
  const resource = sealed(ex, resourceBody(body, type));
  assertValid(ex, resource);
  if (ifNoneExist !== undefined) {
    const criteria = criteriaQuery(ex, type, criteriaOf(ifNoneExist));
    const result = await ex.store.conditionalCreate(resource, criteria, ex.ctx);
    const path = `${type}/${result.resource.id}`;
    return result.created
      ? resourceResult(201, result.resource, ex.baseUrl, `Created ${path}`)
      : resourceResult(200, result.resource, ex.baseUrl, `${path} already exists`);
  }
  const created = await ex.store.create(resource, ex.ctx, id);
  return resourceResult(201, created, ex.baseUrl, `Created ${type}/${created.id}`);
}

/** The body of an update: a resource of `type` whose id is the URL's. */
export function updateBody(type: string, id: string, body: unknown): Resource {
  const resource = resourceBody(body, type);
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
  return resource;
}

export function updateResource(
  ex: Exchange,
  type: string,
  id: string,
  body: unknown,
  ifMatch?: string,
): Promise<InteractionResult> {
  return audited(ex, { interaction: 'update', type, id }, (ex) =>
    update(ex, type, id, body, ifMatch),
  );
}

async function update(
  ex: Exchange,
  type: string,
  id: string,
  body: unknown,
  ifMatch?: string,
): Promise<InteractionResult> {
  requireInteraction(type, 'update');
  requireId(id);
  authorize(ex.policy, type, 'update');
  const resource = sealed(ex, updateBody(type, id, body));
  assertValid(ex, resource);
  const result = await ex.store.update(resource, ex.ctx, ifMatchVersion(ifMatch));
  const verb = result.created ? 'Created' : 'Updated';
  return resourceResult(
    result.created ? 201 : 200,
    result.resource,
    ex.baseUrl,
    `${verb} ${type}/${id}`,
  );
}

/** 204; deleting again is a no-op (204); deleting what never existed is 404. */
export function deleteResource(ex: Exchange, type: string, id: string): Promise<InteractionResult> {
  return audited(ex, { interaction: 'delete', type, id }, async (ex) => {
    requireInteraction(type, 'delete');
    requireId(id);
    authorize(ex.policy, type, 'delete');
    const deleted = await ex.store.delete(type, id, ex.ctx);
    return { status: 204, summary: `Deleted ${type}/${id}`, ...(deleted ? { deleted } : {}) };
  });
}

/** PUT [type]?criteria: no match creates, one match is updated, more is 412. */
export function conditionalUpdate(
  ex: Exchange,
  type: string,
  params: URLSearchParams,
  body: unknown,
): Promise<InteractionResult> {
  return audited(ex, { interaction: 'update', type, query: params }, (ex) =>
    updateMatch(ex, type, params, body),
  );
}

async function updateMatch(
  ex: Exchange,
  type: string,
  params: URLSearchParams,
  body: unknown,
): Promise<InteractionResult> {
  requireInteraction(type, 'update');
  authorize(ex.policy, type, 'update');
  authorize(ex.policy, type, 'search');
  const resource = sealed(ex, resourceBody(body, type));
  if (resource.id !== undefined) requireId(resource.id);
  assertValid(ex, resource);
  const result = await ex.store.conditionalUpdate(
    resource,
    criteriaQuery(ex, type, params),
    ex.ctx,
  );
  const path = `${type}/${result.resource.id}`;
  return result.created
    ? resourceResult(201, result.resource, ex.baseUrl, `Created ${path}`)
    : resourceResult(200, result.resource, ex.baseUrl, `Updated ${path}`);
}

/** DELETE [type]?criteria: exactly one match is deleted; none is 404, more is 412. */
export function conditionalDelete(
  ex: Exchange,
  type: string,
  params: URLSearchParams,
): Promise<InteractionResult> {
  return audited(ex, { interaction: 'delete', type, query: params }, async (ex) => {
    requireInteraction(type, 'delete');
    authorize(ex.policy, type, 'delete');
    authorize(ex.policy, type, 'search');
    const deleted = await ex.store.conditionalDelete(criteriaQuery(ex, type, params), ex.ctx);
    return { status: 204, summary: `Deleted ${type}/${deleted.id}`, deleted };
  });
}
