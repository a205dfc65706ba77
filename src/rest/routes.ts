import type { FastifyInstance } from 'fastify';
import { FhirError } from '../fhir/errors.js';
import { FormBody } from '../http/content-negotiation.js';
import { history } from './interactions/history.js';
import { readResource, readResourceAudited, vreadResource } from './interactions/read.js';
import { searchType } from './interactions/search.js';
import {
  conditionalDelete,
  conditionalUpdate,
  createResource,
  deleteResource,
  updateResource,
} from './interactions/write.js';
import { exchangeOf } from '../exchange/request.js';
import { queryOf, sendResult } from './respond.js';

type Header = string | undefined;
const header = (value: string | string[] | undefined): Header =>
  Array.isArray(value) ? value.join(',') : value;

/** The HTTP face of the instance and type interactions: parse, call, send. */
export async function interactionRoutes(app: FastifyInstance) {
  app.get<{ Params: { type: string; id: string } }>('/:type/:id', async (request, reply) => {
    const { type, id } = request.params;
    const ifNoneMatch = header(request.headers['if-none-match']);
    const ex = exchangeOf(app, request);
    return sendResult(
      request,
      reply,
      // No query (_summary, _elements, _format...): the stored text can go out as is.
      (!request.url.includes('?') && (await readResourceAudited(ex, type, id, ifNoneMatch))) ||
        (await readResource(ex, type, id, ifNoneMatch)),
    );
  });

  app.get<{ Params: { type: string; id: string; vid: string } }>(
    '/:type/:id/_history/:vid',
    async (request, reply) => {
      const { type, id, vid } = request.params;
      return sendResult(
        request,
        reply,
        await vreadResource(exchangeOf(app, request), type, id, vid),
      );
    },
  );

  app.post<{ Params: { type: string } }>('/:type', async (request, reply) => {
    const ifNoneExist = header(request.headers['if-none-exist']);
    const ex = exchangeOf(app, request);
    const result = await createResource(ex, request.params.type, request.body, ifNoneExist);
    return sendResult(request, reply, result, true);
  });

  app.put<{ Params: { type: string; id: string } }>('/:type/:id', async (request, reply) => {
    const { type, id } = request.params;
    const ifMatch = header(request.headers['if-match']);
    const ex = exchangeOf(app, request);
    return sendResult(
      request,
      reply,
      await updateResource(ex, type, id, request.body, ifMatch),
      true,
    );
  });

  app.delete<{ Params: { type: string; id: string } }>('/:type/:id', async (request, reply) => {
    const { type, id } = request.params;
    return sendResult(request, reply, await deleteResource(exchangeOf(app, request), type, id));
  });

  app.get<{ Params: { type: string } }>('/:type', async (request, reply) =>
    sendResult(
      request,
      reply,
      await searchType(exchangeOf(app, request), request.params.type, queryOf(request)),
    ),
  );

  // POST _search: parameters from the form body and the URL together, same answer as GET.
  app.post<{ Params: { type: string } }>('/:type/_search', async (request, reply) => {
    const params = queryOf(request);
    if (request.body instanceof FormBody) {
      for (const [name, value] of new URLSearchParams(request.body.text))
        params.append(name, value);
    } else if (request.body !== undefined) {
      throw new FhirError(415, 'not-supported', '_search takes application/x-www-form-urlencoded');
    }
    return sendResult(
      request,
      reply,
      await searchType(exchangeOf(app, request), request.params.type, params),
    );
  });

  app.put<{ Params: { type: string } }>('/:type', async (request, reply) => {
    const ex = exchangeOf(app, request);
    const result = await conditionalUpdate(ex, request.params.type, queryOf(request), request.body);
    return sendResult(request, reply, result, true);
  });

  app.delete<{ Params: { type: string } }>('/:type', async (request, reply) =>
    sendResult(
      request,
      reply,
      await conditionalDelete(exchangeOf(app, request), request.params.type, queryOf(request)),
    ),
  );

  app.get('/_history', async (request, reply) =>
    sendResult(request, reply, await history(exchangeOf(app, request), {}, queryOf(request))),
  );

  app.get<{ Params: { type: string } }>('/:type/_history', async (request, reply) => {
    const { type } = request.params;
    return sendResult(
      request,
      reply,
      await history(exchangeOf(app, request), { type }, queryOf(request)),
    );
  });

  app.get<{ Params: { type: string; id: string } }>(
    '/:type/:id/_history',
    async (request, reply) => {
      const { type, id } = request.params;
      const ex = exchangeOf(app, request);
      return sendResult(request, reply, await history(ex, { type, id }, queryOf(request)));
    },
  );
}
