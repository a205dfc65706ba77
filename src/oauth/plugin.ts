/**
 * The built-in authorization server's routes, registered under /auth. Every route is public to
 * the bearer-token gate (src/auth/authenticate.ts): an OAuth endpoint authenticates its caller
 * itself (client credentials, or an initial access token) and answers in OAuth's JSON, never
 * with an OperationOutcome. Unknown paths under /auth are OAuth JSON 404s too.
 */
import type { FastifyInstance } from 'fastify';
import { authorizeRoutes } from './authorize.js';
import { RemoteKeySets } from './client-auth.js';
import { introspectRevokeRoutes } from './introspect-revoke.js';
import { launchRoutes } from './launch.js';
import { registerRoutes } from './register.js';
import { tokenRoutes } from './token.js';
import { discoveryRoutes } from './discovery.js';
import { OAuthError, oauthErrors } from './errors.js';
import type { OAuthServer } from './oauth.js';

export async function oauthRoutes(app: FastifyInstance, options: { oauth: OAuthServer }) {
  oauthErrors(app);
  const keySets = new RemoteKeySets();
  await app.register(discoveryRoutes, { oauth: options.oauth });
  await app.register(tokenRoutes, { oauth: options.oauth, keySets });
  await app.register(authorizeRoutes, { oauth: options.oauth });
  await app.register(launchRoutes, { oauth: options.oauth });
  await app.register(registerRoutes, { oauth: options.oauth });
  await app.register(introspectRevokeRoutes, { oauth: options.oauth, keySets });
  app.all('/*', { config: { public: true } }, async () => {
    throw new OAuthError(404, 'invalid_request', 'No such endpoint of the authorization server');
  });
}
