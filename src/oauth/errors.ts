import type { FastifyError, FastifyInstance } from 'fastify';

/** RFC 6749 §5.2 (and RFC 7591 §3.2.2) error codes this server answers with. */
export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'invalid_scope'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'unsupported_token_type'
  | 'invalid_token'
  | 'insufficient_scope'
  | 'invalid_redirect_uri'
  | 'invalid_client_metadata'
  | 'not_found'
  | 'server_error';

/** An error as OAuth says to send it: `{"error", "error_description"}` JSON with a status. */
export class OAuthError extends Error {
  constructor(
    readonly statusCode: number,
    readonly error: OAuthErrorCode,
    readonly description: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(description);
    this.name = 'OAuthError';
  }
}

export const invalidRequest = (why: string) => new OAuthError(400, 'invalid_request', why);

/** 401 with the challenge RFC 6749 §5.2 asks for when the client tried HTTP Basic. */
export const invalidClient = (why: string, basic = false) =>
  new OAuthError(
    401,
    'invalid_client',
    why,
    basic ? { 'www-authenticate': 'Basic realm="telefhir", charset="UTF-8"' } : {},
  );

/**
 * Every error under /auth leaves as OAuth JSON, never as an OperationOutcome and never as a
 * 5xx that names what failed: Fastify's own (bad media type, body too large, bad JSON) become
 * invalid_request; anything unexpected is logged (no body, no credentials) and answered as
 * server_error 500 with the request id. Set on the /auth plugin's scope only.
 */
export function oauthErrors(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError | OAuthError, request, reply) => {
    let known: OAuthError;
    if (error instanceof OAuthError) known = error;
    else if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) {
      const status = error.statusCode === 413 || error.statusCode === 415 ? error.statusCode : 400;
      known = new OAuthError(status, 'invalid_request', 'The request body could not be read');
    } else {
      request.log.error({ err: error }, 'unexpected error in the authorization server');
      known = new OAuthError(500, 'server_error', `Internal error (request ${request.id})`);
    }
    request.log.info(
      { status: known.statusCode, oauthError: known.error },
      'oauth request refused',
    );
    return reply
      .code(known.statusCode)
      .headers({ ...known.headers, 'cache-control': 'no-store', pragma: 'no-cache' })
      .type('application/json; charset=utf-8')
      .send({ error: known.error, error_description: known.description });
  });
}
