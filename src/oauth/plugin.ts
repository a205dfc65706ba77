/**
 * The built-in authorization server's routes, registered under /auth. Every route is public to
 * the bearer-token gate (src/auth/authenticate.ts): an OAuth endpoint authenticates its caller
 * itself (client credentials, or an initial access token) and answers in OAuth's JSON, never
 * with an OperationOutcome. Unknown paths under /auth are OAuth JSON 404s too.
 */
import type { FastifyInstance } from 'fastify';
import { discoveryRoutes } from './discovery.js';
import { OAuthError, oauthErrors } from './errors.js';
import type { OAuthServer } from './oauth.js';

export async function oauthRoutes(app: FastifyInstance, options: { oauth: OAuthServer }) {
  oauthErrors(app);
  await app.register(discoveryRoutes, { oauth: options.oauth });
  app.all('/*', { config: { public: true } }, async () => {
    throw new OAuthError(404, 'invalid_request', 'No such endpoint of the authorization server');
  });
}
