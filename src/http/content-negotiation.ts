import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import sjson from 'secure-json-parse';
import { FhirError } from '../fhir/errors.js';
import { FHIR_JSON } from './error-handler.js';
import { jsonTextProblem } from './json-text.js';

/** A form-encoded body, kept apart from JSON values so no route mistakes it for one. */
export class FormBody {
  constructor(readonly text: string) {}
}

/** The JSON media types a FHIR R4 client may send (the last is the DSTU2-era spelling). */
export const JSON_MEDIA_TYPES = [
  'application/fhir+json',
  'application/json',
  'application/json+fhir',
];
const FORMAT_ALIASES = new Set(['json', ...JSON_MEDIA_TYPES]);
const PLAIN_JSON = 'application/json; charset=utf-8';

type Flavour = 'fhir' | 'json';

/**
 * A Binary's read (and vread) answers with the document's own media type unless FHIR JSON is
 * asked for (src/rest/binary.ts), so any Accept is fine there.
 */
const BINARY_READ = /^\/fhir\/Binary\/[A-Za-z0-9.-]+(?:\/_history\/[^/?]+)?(?:\?|$)/;
/** An export's output file is NDJSON, whatever JSON flavour is asked for (src/export/). */
const EXPORT_FILE = /^\/fhir\/_export\/[0-9a-f-]{36}\/\d+(?:\?|$)/;

/** What an Accept header asks for, or undefined when it accepts no JSON at all. */
export function negotiate(accept: string | undefined): Flavour | undefined {
  if (!accept || !accept.trim()) return 'fhir';
  let wildcard = false;
  let plain = false;
  for (const range of accept.split(',')) {
    const [mediaType = '', ...params] = range.split(';').map((part) => part.trim().toLowerCase());
    const q = params.find((p) => p.startsWith('q='));
    if (q && !(Number(q.slice(2)) > 0)) continue;
    if (mediaType === 'application/fhir+json' || mediaType === 'application/json+fhir') {
      return 'fhir';
    }
    if (mediaType === 'application/json') plain = true;
    if (mediaType === '*/*' || mediaType === 'application/*') wildcard = true;
  }
  return plain ? 'json' : wildcard ? 'fhir' : undefined;
}

function requestedFlavour(request: FastifyRequest): Flavour {
  const query = request.query as Record<string, string | string[] | undefined>;
  const format = Array.isArray(query._format) ? query._format[0] : query._format;
  if (format !== undefined) {
    const normalised = format.split(';')[0]!.trim().toLowerCase();
    if (!FORMAT_ALIASES.has(normalised)) {
      throw new FhirError(406, 'not-supported', `_format ${normalised} is not supported; use json`);
    }
    return normalised === 'application/json' ? 'json' : 'fhir';
  }
  const flavour = negotiate(request.headers.accept);
  if (!flavour) {
    throw new FhirError(406, 'not-supported', 'Only JSON is served: accept application/fhir+json');
  }
  return flavour;
}

/**
 * Request bodies: only FHIR JSON, parsed with prototype-poisoning protection; anything else is
 * 415 (Fastify raises it once no parser matches). Responses: the JSON flavour the client asked
 * for, XML or other formats are 406.
 */
export const contentNegotiation = fp(async (app: FastifyInstance) => {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(JSON_MEDIA_TYPES, { parseAs: 'string' }, (_request, body, done) => {
    if (body === '') {
      done(new FhirError(400, 'structure', 'Request body is empty'), undefined);
      return;
    }
    const problem = jsonTextProblem(body as string);
    if (problem) {
      done(new FhirError(400, 'structure', problem), undefined);
      return;
    }
    try {
      done(
        null,
        sjson.parse(body as string, undefined, {
          protoAction: 'error',
          constructorAction: 'error',
        }),
      );
    } catch (err) {
      const poisoned = err instanceof Error && err.message.startsWith('Object contains forbidden');
      done(
        new FhirError(
          400,
          'structure',
          poisoned
            ? 'Request body contains a forbidden __proto__ or constructor.prototype property'
            : 'Request body is not valid JSON',
        ),
        undefined,
      );
    }
  });

  // Only POST [type]/_search reads a form; anywhere else a string body is refused as 415.
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string' },
    (_request, body, done) => done(null, new FormBody(body as string)),
  );

  app.addHook('onRequest', async (request, reply) => {
    // The route's path, not the raw URL: `/%66hir/metadata` is routed, and answered, as FHIR.
    if (!(request.routeOptions.url ?? request.url).startsWith('/fhir')) return;
    reply.type(FHIR_JSON); // errors from the check below are FHIR JSON too
    if (['GET', 'HEAD'].includes(request.method) && BINARY_READ.test(request.url)) return;
    if (request.method === 'GET' && EXPORT_FILE.test(request.url)) return;
    reply.type(requestedFlavour(request) === 'json' ? PLAIN_JSON : FHIR_JSON);
  });
});
