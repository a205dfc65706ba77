import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { FhirError } from '../fhir/errors.js';
import { operationOutcome } from '../fhir/outcome.js';

export const FHIR_JSON = 'application/fhir+json; charset=utf-8';

/** Fastify's own request errors, in FHIR's words. Their messages carry no request data. */
function fromFastify(error: FastifyError, bodyLimit: number): FhirError | undefined {
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new FhirError(413, 'too-long', `Request body is larger than ${bodyLimit} bytes`);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new FhirError(
        415,
        'not-supported',
        'Unsupported Content-Type: send application/fhir+json or application/json',
      );
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new FhirError(400, 'structure', 'Request body is empty');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new FhirError(400, 'structure', 'Content-Length does not match the body');
  }
  const status = error.statusCode;
  if (status && status >= 400 && status < 500) {
    return new FhirError(status, status === 404 ? 'not-found' : 'invalid', error.message);
  }
  return undefined;
}

/**
 * What the router refuses before any route or hook runs: a path segment longer than
 * maxParamLength, or one whose %-escapes don't decode. Fastify's own answers are plain JSON
 * that echo the path back; these are OperationOutcomes that don't.
 */
export function frameworkError(error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  const known =
    error.code === 'FST_ERR_MAX_PARAM_LENGTH'
      ? new FhirError(414, 'too-long', 'A path segment of the URL is too long')
      : error.code === 'FST_ERR_BAD_URL'
        ? new FhirError(400, 'invalid', 'The URL path is not valid percent-encoded UTF-8')
        : undefined;
  if (!known) {
    request.log.error({ err: error }, 'unexpected error');
    return sendError(request, reply, new FhirError(500, 'exception', 'Internal server error'));
  }
  request.log.info({ status: known.statusCode, issue: known.issueCode }, 'request refused');
  return sendError(request, reply, known);
}

/** Seconds a client should wait before retrying after a timeout: the server is busy, not broken. */
export const RETRY_AFTER_SECONDS = 5;

/**
 * Postgres gave up on a statement: it ran past DB_STATEMENT_TIMEOUT_MS (57014 query_canceled)
 * or waited past DB_LOCK_TIMEOUT_MS for a lock, or for the embedded connection (55P03
 * lock_not_available). The transaction rolled back, so the request may simply be retried.
 */
function fromDatabase(error: unknown): FhirError | undefined {
  for (let e = error, depth = 0; e && depth < 3; e = (e as Error).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (code === '57014' || code === '55P03') {
      return new FhirError(
        503,
        'transient',
        code === '57014'
          ? 'The database did not finish in time; nothing was changed, try again later'
          : 'The data is busy (locked by another request); nothing was changed, try again later',
        undefined,
        { 'retry-after': String(RETRY_AFTER_SECONDS) },
      );
    }
  }
  return undefined;
}

export function sendError(request: FastifyRequest, reply: FastifyReply, error: FhirError) {
  return reply
    .code(error.statusCode)
    .headers(error.headers)
    .type(FHIR_JSON)
    .send(operationOutcome(error.issues));
}

/**
 * The single place errors become responses: every error, ours or Fastify's, leaves as an
 * OperationOutcome. Unexpected errors are logged (stack, never the body) and answered with a
 * generic 500 that names only the request id.
 */
export const errorHandling = fp(async (app: FastifyInstance) => {
  app.setErrorHandler((error: FastifyError | FhirError, request, reply) => {
    const known =
      error instanceof FhirError
        ? error
        : (fromDatabase(error) ?? fromFastify(error as FastifyError, app.config.bodyLimit));
    if (known) {
      request.log.info({ status: known.statusCode, issue: known.issueCode }, 'request refused');
      return sendError(request, reply, known);
    }
    request.log.error({ err: error }, 'unexpected error');
    return sendError(
      request,
      reply,
      new FhirError(500, 'exception', `Internal server error (request ${request.id})`),
    );
  });

  app.setNotFoundHandler((request, reply) =>
    sendError(
      request,
      reply,
      new FhirError(
        404,
        'not-found',
        `No route for ${request.method} ${request.url.split('?')[0]}`,
      ),
    ),
  );
});
