import { authorize } from '../../auth/authorize.js';
import { requireId, requireInteraction } from '../../exchange/guards.js';
import { audited, auditFailure, auditInput, type AuditTarget } from '../../exchange/audited.js';
import { buildAuditEvent } from '../../audit/event.js';
import { SSN_SYSTEM } from '../../identity/ssn.js';
import type { Resource } from 'fhir/r4.js';
import {
  etag,
  resourceResult,
  type Exchange,
  type InteractionResult,
} from '../../exchange/exchange.js';

/** read; a matching If-None-Match is 304. */
export function readResource(
  ex: Exchange,
  type: string,
  id: string,
  ifNoneMatch?: string,
): Promise<InteractionResult> {
  return audited(ex, { interaction: 'read', type, id }, (ex) => read(ex, type, id, ifNoneMatch));
}

/** Binary has its own views and rules (rest/binary.ts); AuditEvent its own table. */
const OWN_READ_PATH = new Set(['Binary', 'AuditEvent']);

/**
 * The read and its AuditEvent in one round trip (FhirStore.readAudited), the stored JSON text
 * sent as is. Undefined when this path doesn't apply — a store without it, a type with its own
 * rules, a request the ordinary path refuses (so that it says why and audits the refusal), a
 * resource absent or deleted — and the caller takes the ordinary path. A resource holding an
 * SSN is parsed after all: the identity hook must show it masked.
 */
export async function readResourceAudited(
  ex: Exchange,
  type: string,
  id: string,
  ifNoneMatch?: string,
): Promise<InteractionResult | undefined> {
  if (!ex.store.readAudited || OWN_READ_PATH.has(type)) return undefined;
  try {
    requireInteraction(type, 'read');
    requireId(id);
    authorize(ex.policy, type, 'read');
  } catch {
    return undefined;
  }
  const target: AuditTarget = { interaction: 'read', type, id };
  const named = { status: 200, resource: { resourceType: type, id } as Resource };
  let stored;
  try {
    const event = buildAuditEvent(auditInput(ex, target, 'success', named));
    stored = await ex.store.readAudited(type, id, ex.ctx, event);
  } catch (error) {
    await auditFailure(ex, target, error);
    throw error;
  }
  if (!stored) return undefined;
  const tag = etag(stored.versionId);
  const headers = { etag: tag, lastModified: stored.lastUpdated };
  if (ifNoneMatch?.split(',').some((given) => given.trim() === tag)) {
    return { status: 304, ...headers };
  }
  if (stored.json.includes(SSN_SYSTEM)) {
    return { status: 200, resource: JSON.parse(stored.json) as Resource, ...headers };
  }
  return { status: 200, json: stored.json, ...headers };
}

async function read(
  ex: Exchange,
  type: string,
  id: string,
  ifNoneMatch?: string,
): Promise<InteractionResult> {
  requireInteraction(type, 'read');
  requireId(id);
  authorize(ex.policy, type, 'read');
  const resource = await ex.store.read(type, id, ex.ctx);
  const result = resourceResult(200, resource, ex.baseUrl);
  const current = resource.meta?.versionId && etag(resource.meta.versionId);
  if (current && ifNoneMatch?.split(',').some((tag) => tag.trim() === current)) {
    return { ...result, status: 304, resource: undefined };
  }
  return result;
}

export function vreadResource(
  ex: Exchange,
  type: string,
  id: string,
  versionId: string,
): Promise<InteractionResult> {
  return audited(ex, { interaction: 'vread', type, id, versionId }, async (ex) => {
    requireInteraction(type, 'vread');
    requireId(id);
    authorize(ex.policy, type, 'read');
    return resourceResult(200, await ex.store.vread(type, id, versionId, ex.ctx), ex.baseUrl);
  });
}
