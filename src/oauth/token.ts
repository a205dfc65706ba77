/**
 * POST /auth/token: the client credentials grant (SMART Backend Services) here — a client
 * authenticates (client-auth.ts), asks for system/ scopes, and gets what it asked for of what
 * it registered: the granted `scope` may be less than asked — and the user grants
 * (authorization_code, refresh_token) in token-user.ts.
 */
import type { FastifyInstance } from 'fastify';
import { issueAccessToken } from './access-tokens.js';
import { authenticateClient, RemoteKeySets } from './client-auth.js';
import { OAuthError } from './errors.js';
import { formParams, NO_STORE, scopeParam } from './form.js';
import { oauthEndpoints } from './issuer.js';
import type { OAuthServer } from './oauth.js';
import { userGrantClient, UserTokens } from './token-user.js';

/**
 * Scopes a backend service may hold besides system/ ones: `telefhir/export.deidentified`, the
 * de-identified Bulk Data export (src/export/deidentify.ts), which on its own reads nothing.
 */
const SERVICE_SCOPES = new Set(['telefhir/export.deidentified']);

/**
 * The scopes granted: those asked for (all registered when none are) that are registered and
 * system/ or a service scope.
 */
export function grantedScopes(requested: string | null, registered: string): string[] {
  const allowed = registered
    .split(' ')
    .filter((scope) => scope.startsWith('system/') || SERVICE_SCOPES.has(scope));
  if (requested === null) return allowed;
  const asked = requested.split(' ').filter(Boolean);
  return [...new Set(asked.filter((scope) => allowed.includes(scope)))];
}

export async function tokenRoutes(
  app: FastifyInstance,
  options: { oauth: OAuthServer; keySets: RemoteKeySets },
) {
  const { oauth, keySets } = options;
  const userTokens = new UserTokens(app, oauth, () => oauthEndpoints(app.config.baseUrl).issuer);
  app.post('/token', { config: { public: true } }, async (request, reply) => {
    const params = formParams(request);
    // Every grant's scope (client_credentials, a refresh's narrowing) is scope tokens only.
    scopeParam(params);
    const grantType = params.get('grant_type');
    if (!grantType) throw new OAuthError(400, 'invalid_request', 'grant_type is missing');
    const endpoints = oauthEndpoints(app.config.baseUrl);
    const context = {
      clients: oauth.clients,
      sql: oauth.db,
      keySets,
      tokenUrl: endpoints.token_endpoint,
    };
    if (grantType === 'authorization_code' || grantType === 'refresh_token') {
      const client = await userGrantClient(params, request.headers.authorization, context);
      const body =
        grantType === 'authorization_code'
          ? await userTokens.authorizationCode(params, client)
          : await userTokens.refresh(params, client);
      request.log.info({ clientId: client.clientId, grantType }, 'access token issued');
      return reply.headers(NO_STORE).type('application/json; charset=utf-8').send(body);
    }
    if (grantType !== 'client_credentials') {
      throw new OAuthError(
        400,
        'unsupported_grant_type',
        'grant_type must be authorization_code, refresh_token or client_credentials',
      );
    }
    const client = await authenticateClient(params, request.headers.authorization, context);
    if (!client.grantTypes.includes('client_credentials')) {
      throw new OAuthError(
        400,
        'unauthorized_client',
        'this client may not use client_credentials',
      );
    }
    const scopes = grantedScopes(params.get('scope'), client.scope);
    if (scopes.length === 0) {
      throw new OAuthError(400, 'invalid_scope', 'none of the requested scopes may be granted');
    }
    const scope = scopes.join(' ');
    const token = await issueAccessToken(oauth.keys, {
      iss: endpoints.issuer,
      aud: app.config.auth.audience,
      sub: client.clientId,
      client_id: client.clientId,
      scope,
    });
    request.log.info({ clientId: client.clientId, scope }, 'access token issued');
    return reply.headers(NO_STORE).type('application/json; charset=utf-8').send({
      access_token: token.accessToken,
      token_type: 'Bearer',
      expires_in: token.expiresIn,
      scope: token.scope,
    });
  });
}
