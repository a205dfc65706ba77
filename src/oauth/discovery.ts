import type { FastifyInstance } from 'fastify';
import { oauthEndpoints } from './issuer.js';
import type { OAuthServer } from './oauth.js';
import { ASSERTION_ALGS } from './client-auth.js';
import { SUPPORTED_GRANTS } from './clients.js';

const CLIENT_AUTH_METHODS = ['client_secret_basic', 'private_key_jwt'];

/**
 * What the authorization server does, as RFC 8414 / OpenID discovery says it: only what works.
 * There is no authorization endpoint yet (so no response types, PKCE or id tokens): only
 * backend services, with the client_credentials grant.
 */
export function openidConfiguration(baseUrl: string) {
  return {
    ...oauthEndpoints(baseUrl),
    grant_types_supported: [...SUPPORTED_GRANTS],
    token_endpoint_auth_methods_supported: CLIENT_AUTH_METHODS,
    token_endpoint_auth_signing_alg_values_supported: ASSERTION_ALGS,
    introspection_endpoint_auth_methods_supported: CLIENT_AUTH_METHODS,
    revocation_endpoint_auth_methods_supported: CLIENT_AUTH_METHODS,
    scopes_supported: SYSTEM_SCOPES,
  };
}

/** Scopes a backend service may register and be granted (v1 and v2 spellings). */
const SYSTEM_SCOPES = [
  'system/*.rs',
  'system/*.cruds',
  'system/*.read',
  'system/*.write',
  'system/*.*',
];

/** SMART App Launch 2 discovery when the built-in server issues the tokens: what works, only. */
export function builtInSmartConfiguration(baseUrl: string) {
  return {
    ...openidConfiguration(baseUrl),
    capabilities: [
      'client-confidential-asymmetric',
      'client-confidential-symmetric',
      'permission-v1',
      'permission-v2',
    ],
  };
}

export async function discoveryRoutes(app: FastifyInstance, options: { oauth: OAuthServer }) {
  const json = 'application/json; charset=utf-8';
  app.get('/jwks', { config: { public: true } }, async (_request, reply) =>
    reply
      .type(json)
      .header('cache-control', 'public, max-age=300')
      .send(await options.oauth.keys.jwks()),
  );
  app.get('/.well-known/openid-configuration', { config: { public: true } }, async (_r, reply) =>
    reply.type(json).send(openidConfiguration(app.config.baseUrl)),
  );
}
