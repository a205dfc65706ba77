import type { BundleLink } from 'fhir/r4.js';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { historyBundle } from '../fhir/bundle.js';
import { openCursor, sealCursor } from '../fhir/cursor.js';
import { FhirError } from '../fhir/errors.js';
import { parseCount, parseInstant, rejectUnknown, single, type RawQuery } from '../fhir/params.js';
import { parsePrefer } from '../fhir/prefer.js';
import type { HistoryQuery } from '../store/store.js';
import { contextOf, requireId, requireInteraction } from './guards.js';

const KNOWN = new Set(['_count', '_since', '_cursor']);
const DEFAULT_COUNT = 20;
const MAX_COUNT = 1000;

interface Cursor {
  scope: string;
  seq: string;
}

/** Instance, type and system history: newest first, paged by a sealed keyset cursor. */
async function history(
  app: FastifyInstance,
  request: FastifyRequest,
  path: string,
  scope: Pick<HistoryQuery, 'type' | 'id'>,
) {
  const query = request.query as RawQuery;
  rejectUnknown(query, KNOWN, parsePrefer(request.headers.prefer).strict);
  const count = parseCount(single(query, '_count'), DEFAULT_COUNT, MAX_COUNT);
  const sinceRaw = single(query, '_since');
  const since = sinceRaw === undefined ? undefined : parseInstant('_since', sinceRaw);
  const scopeKey = JSON.stringify([path, since ?? null]);
  const key = await app.store.sharedSecret('paging');
  const token = single(query, '_cursor');
  let after: HistoryQuery['after'];
  if (token !== undefined) {
    const cursor = openCursor(key, token) as Cursor;
    if (cursor.scope !== scopeKey) {
      throw new FhirError(400, 'invalid', 'The paging cursor belongs to another query');
    }
    after = { seq: cursor.seq };
  }
  const page = await app.store.history({ ...scope, count, since, after }, contextOf(request));

  const base = `${app.config.baseUrl}/${path}`;
  const link = (params: Record<string, string | undefined>) => {
    const search = new URLSearchParams();
    for (const [name, value] of Object.entries(params))
      if (value !== undefined) search.set(name, value);
    return `${base}?${search.toString()}`;
  };
  const shared = { _count: String(count), _since: since };
  const links: BundleLink[] = [{ relation: 'self', url: link({ ...shared, _cursor: token }) }];
  if (page.next) {
    const next = sealCursor(key, { scope: scopeKey, seq: page.next.seq } satisfies Cursor);
    links.push({ relation: 'next', url: link({ ...shared, _cursor: next }) });
  }
  return historyBundle(app.config.baseUrl, page.versions, page.total, links);
}

export async function historyRoutes(app: FastifyInstance) {
  app.get('/_history', (request) => history(app, request, '_history', {}));

  app.get<{ Params: { type: string } }>('/:type/_history', (request) => {
    const { type } = request.params;
    requireInteraction(type, 'history-type');
    return history(app, request, `${type}/_history`, { type });
  });

  app.get<{ Params: { type: string; id: string } }>('/:type/:id/_history', (request) => {
    const { type, id } = request.params;
    requireInteraction(type, 'history-instance');
    requireId(id);
    return history(app, request, `${type}/${id}/_history`, { type, id });
  });
}
