import type { FastifyRequest } from 'fastify';
import { FormBody } from '../http/content-negotiation.js';
import { invalidRequest } from './errors.js';

const MAX_FORM_BYTES = 64 * 1024;

/**
 * The form-encoded body of an OAuth request. RFC 6749 §3.2: parameters are sent
 * form-encoded, and none may appear twice (a second `scope` or `client_id` could mean two
 * things to two readers), so a repeated one is invalid_request.
 */
export function formParams(request: FastifyRequest): URLSearchParams {
  const body = request.body;
  if (!(body instanceof FormBody)) {
    throw invalidRequest('send the parameters as application/x-www-form-urlencoded');
  }
  if (body.text.length > MAX_FORM_BYTES) throw invalidRequest('the form is too large');
  const params = new URLSearchParams(body.text);
  const seen = new Set<string>();
  for (const [name, value] of params) {
    if (seen.has(name)) throw invalidRequest(`parameter ${name.slice(0, 40)} is repeated`);
    // Postgres refuses NUL in text: refused here, as the client's error, not a 500.
    if ((name + value).includes('\u0000')) throw invalidRequest('a parameter contains NUL');
    seen.add(name);
  }
  return params;
}

/** OAuth responses that carry tokens (or say whether one is alive) are never cached. */
export const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' };
