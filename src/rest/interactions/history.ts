import type { BundleLink } from 'fhir/r4.js';
import { authorize, authorizeSystem } from '../../auth/authorize.js';
import { historyBundle } from '../../fhir/bundle.js';
import { openCursor, sealCursor } from '../../fhir/cursor.js';
import { FhirError } from '../../fhir/errors.js';
import { parseCount, parseInstant, rejectUnknown, single } from '../../fhir/params.js';
import type { HistoryQuery } from '../../store/store.js';
import { requireId, requireInteraction } from '../../exchange/guards.js';
import { audited } from '../../exchange/audited.js';
import type { Exchange, InteractionResult } from '../../exchange/exchange.js';

const KNOWN = new Set(['_count', '_since', '_cursor']);
const DEFAULT_COUNT = 20;
const MAX_COUNT = 1000;

interface Cursor {
  scope: string;
  seq: string;
}

/** Instance, type or system history: newest first, paged by a sealed keyset cursor. */
export function history(
  ex: Exchange,
  scope: Pick<HistoryQuery, 'type' | 'id'>,
  params: URLSearchParams,
): Promise<InteractionResult> {
  const interaction = scope.id ? 'history' : scope.type ? 'history-type' : 'history-system';
  return audited(ex, { interaction, ...scope }, (ex) => listHistory(ex, scope, params));
}

async function listHistory(
  ex: Exchange,
  scope: Pick<HistoryQuery, 'type' | 'id'>,
  params: URLSearchParams,
): Promise<InteractionResult> {
  if (scope.type) requireInteraction(scope.type, scope.id ? 'history-instance' : 'history-type');
  if (scope.id) requireId(scope.id);
  if (scope.type) authorize(ex.policy, scope.type, scope.id ? 'read' : 'search');
  else authorizeSystem(ex.policy);
  const path = [scope.type, scope.id, '_history'].filter(Boolean).join('/');
  rejectUnknown(params, KNOWN, ex.strict);
  const count = parseCount(single(params, '_count'), DEFAULT_COUNT, MAX_COUNT);
  const sinceRaw = single(params, '_since');
  const since = sinceRaw === undefined ? undefined : parseInstant('_since', sinceRaw);
  const scopeKey = JSON.stringify([path, since ?? null]);
  const key = await ex.store.sharedSecret('paging');
  const token = single(params, '_cursor');
  let after: HistoryQuery['after'];
  if (token !== undefined) {
    const cursor = openCursor(key, token) as Cursor;
    if (cursor.scope !== scopeKey) {
      throw new FhirError(400, 'invalid', 'The paging cursor belongs to another query');
    }
    after = { seq: cursor.seq };
  }
  const page = await ex.store.history({ ...scope, count, since, after }, ex.ctx);

  const link = (cursor: string | undefined) => {
    const search = new URLSearchParams({ _count: String(count) });
    if (since) search.set('_since', since);
    if (cursor) search.set('_cursor', cursor);
    return `${ex.baseUrl}/${path}?${search.toString()}`;
  };
  const links: BundleLink[] = [{ relation: 'self', url: link(token) }];
  if (page.next) {
    const next = sealCursor(key, { scope: scopeKey, seq: page.next.seq } satisfies Cursor);
    links.push({ relation: 'next', url: link(next) });
  }
  return {
    status: 200,
    resource: historyBundle(ex.baseUrl, page.versions, page.total, links),
  };
}
