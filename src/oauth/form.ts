import type { FastifyRequest } from 'fastify';
import { FormBody } from '../http/content-negotiation.js';
import { invalidRequest, OAuthError } from './errors.js';

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

/** RFC 6749 §3.3 scope-token: %x21 / %x23-5B / %x5D-7E; tokens separated by single spaces. */
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]{1,200}$/;

/**
 * Whether a `scope` value is only scope tokens. Anything else (U+00A0, a tab, a quote) could
 * be split one way here and another by parseScopes, so it is refused, never reinterpreted.
 */
export function validScope(value: string): boolean {
  return value.split(' ').every((token) => token === '' || SCOPE_TOKEN.test(token));
}

/** The request's `scope`, or null when absent; invalid_scope when it isn't scope tokens. */
export function scopeParam(params: URLSearchParams): string | null {
  const scope = params.get('scope');
  if (scope !== null && !validScope(scope)) {
    throw new OAuthError(400, 'invalid_scope', 'scope must be space-separated scope tokens');
  }
  return scope;
}
