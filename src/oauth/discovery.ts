import type { FastifyInstance } from 'fastify';
import { oauthEndpoints } from './issuer.js';
import type { OAuthServer } from './oauth.js';

/** What the authorization server does, as RFC 8414 / OpenID discovery says it: only what works. */
export function openidConfiguration(baseUrl: string) {
  const endpoints = oauthEndpoints(baseUrl);
  return {
    issuer: endpoints.issuer,
    jwks_uri: endpoints.jwks_uri,
    id_token_signing_alg_values_supported: ['RS256'],
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
