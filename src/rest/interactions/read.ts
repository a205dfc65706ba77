import { authorize } from '../../auth/authorize.js';
import { requireId, requireInteraction } from '../../exchange/guards.js';
import { audited } from '../../exchange/audited.js';
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
