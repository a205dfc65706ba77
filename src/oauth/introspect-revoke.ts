/**
 * POST /auth/introspect (RFC 7662) and POST /auth/revoke (RFC 7009). Either caller: a
 * registered client authenticating as at the token endpoint, or an ADMIN or system/ bearer
 * token (a resource server of ours, an operator; caller.ts says which). A client, or a
 * registered backend service's bearer, sees and revokes only its own tokens. Only this server's own access tokens are
 * ever active; anything else introspects as `{"active": false}` and revokes as a no-op 200.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { verifyOwnToken } from './access-tokens.js';
import { adminCaller } from './caller.js';
import { authenticateClient, type RemoteKeySets } from './client-auth.js';
import { invalidRequest, OAuthError } from './errors.js';
import { formParams, NO_STORE } from './form.js';
import { Grants } from './grants.js';
import { oauthEndpoints } from './issuer.js';
import type { OAuthServer } from './oauth.js';
import { confidentialOrPublicClient } from './token-user.js';

interface Options {
  oauth: OAuthServer;
  keySets: RemoteKeySets;
}

/**
 * The caller's client id — a client authenticating, or a registered backend service's bearer
 * token — or undefined for an operator's bearer (caller.ts), who may act on any token.
 */
async function caller(
  app: FastifyInstance,
  request: FastifyRequest,
  params: URLSearchParams,
  options: Options,
): Promise<string | undefined> {
  if (/^Bearer\s/i.test(request.headers.authorization ?? '')) {
    const admin = await adminCaller(app, request);
    return admin.kind === 'service' ? admin.clientId : undefined;
  }
  const client = await authenticateClient(params, request.headers.authorization, {
    clients: options.oauth.clients,
    sql: options.oauth.db,
    keySets: options.keySets,
    tokenUrl: oauthEndpoints(app.config.baseUrl).token_endpoint,
  });
  return client.clientId;
}

const CLAIMS = [
  'scope',
  'client_id',
  'exp',
  'iat',
  'sub',
  'iss',
  'aud',
  'jti',
  'patient',
  'encounter',
  'fhirUser',
];

export async function introspectRevokeRoutes(app: FastifyInstance, options: Options) {
  const { oauth } = options;
  const json = 'application/json; charset=utf-8';

  async function liveToken(token: string) {
    const claims = await verifyOwnToken(
      oauth.keys,
      token,
      oauthEndpoints(app.config.baseUrl).issuer,
    );
    if (!claims || (await oauth.revocations.isRevoked(claims.jti!))) return undefined;
    return claims;
  }

  app.post('/introspect', { config: { public: true } }, async (request, reply) => {
    const params = formParams(request);
    const clientId = await caller(app, request, params, options);
    const token = params.get('token');
    if (!token) throw invalidRequest('token is missing');
    const live = await liveToken(token);
    // A client learns only about its own tokens: another's is as good as unknown to it.
    const claims = clientId === undefined || live?.client_id === clientId ? live : undefined;
    const body: Record<string, unknown> = { active: claims !== undefined };
    if (claims) {
      for (const name of CLAIMS) if (claims[name] !== undefined) body[name] = claims[name];
      body.token_type = 'Bearer';
    }
    return reply.headers(NO_STORE).type(json).send(body);
  });

  /**
   * The revoking client: as `caller`, except that a public client may name itself with
   * client_id (RFC 7009 §5: it revokes only its own tokens, which it holds anyway).
   */
  async function revoker(request: FastifyRequest, params: URLSearchParams) {
    if (/^Bearer\s/i.test(request.headers.authorization ?? '')) {
      return caller(app, request, params, options);
    }
    const client = await confidentialOrPublicClient(params, request.headers.authorization, {
      clients: oauth.clients,
      sql: oauth.db,
      keySets: options.keySets,
      tokenUrl: oauthEndpoints(app.config.baseUrl).token_endpoint,
    });
    return client.clientId;
  }

  const grants = new Grants(oauth.db);

  app.post('/revoke', { config: { public: true } }, async (request, reply) => {
    const params = formParams(request);
    const clientId = await revoker(request, params);
    const token = params.get('token');
    if (!token) throw invalidRequest('token is missing');
    const hint = params.get('token_type_hint');
    if (hint !== null && hint !== 'access_token' && hint !== 'refresh_token') {
      throw new OAuthError(400, 'unsupported_token_type', 'only access and refresh tokens');
    }
    // Either kind is found without the hint (RFC 7009 §2.1): a refresh token is never a JWT.
    const claims = await liveToken(token);
    if (!claims && token.length <= 200) {
      await grants.revokeRefreshToken(token, clientId);
    }
    if (claims) {
      if (clientId !== undefined && claims.client_id !== clientId) {
        throw new OAuthError(400, 'unauthorized_client', 'a client may revoke only its own tokens');
      }
      await oauth.revocations.revoke(claims.jti!, claims.exp!);
      request.log.info({ clientId: claims.client_id }, 'access token revoked');
    }
    return reply.headers(NO_STORE).type(json).send({});
  });
}
