/**
 * POST /auth/register: RFC 7591 dynamic client registration, for a caller holding an ADMIN or
 * system/ token as its initial access token (caller.ts: never an app's token from a user's
 * sign-in without telefhir/oauth.admin). The same rules as `npm run client` (clients.ts);
 * only grants the token endpoint implements may be registered, and a backend service's token
 * registers no system/ scope it doesn't hold itself (no escalation).
 */
import type { FastifyInstance } from 'fastify';
import { ADMIN_SCOPE, adminCaller, covers, type AdminCaller } from './caller.js';
import { ClientMetadataError, SUPPORTED_GRANTS, type AuthMethod, type Client } from './clients.js';
import { OAuthError } from './errors.js';
import { NO_STORE } from './form.js';
import type { OAuthServer } from './oauth.js';

/** A client as RFC 7591 §3.2.1 describes it back (never its secret's hash). */
export function clientMetadata(client: Client) {
  return {
    client_id: client.clientId,
    client_id_issued_at: Math.floor(Date.parse(client.createdAt) / 1000),
    client_name: client.name,
    redirect_uris: client.redirectUris,
    token_endpoint_auth_method: client.authMethod,
    grant_types: client.grantTypes,
    scope: client.scope,
    ...(client.jwks ? { jwks: client.jwks } : {}),
    ...(client.jwksUri ? { jwks_uri: client.jwksUri } : {}),
    ...(client.launchUri ? { launch_uri: client.launchUri } : {}),
  };
}

const strings = (value: unknown, what: string): string[] => {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) {
    throw new ClientMetadataError(`${what} must be a list of strings`);
  }
  return value;
};

/**
 * No escalation: a service's token registers system/ scopes it holds (or holds wider), and
 * never the administrative scope; user-facing scopes are the signed-in user's to grant.
 */
function checkNoEscalation(caller: AdminCaller, scope: string) {
  if (caller.kind === 'operator') return;
  for (const wanted of scope.split(' ').filter(Boolean)) {
    const system = wanted.startsWith('system/');
    if ((system && !covers(caller.scopes, wanted)) || wanted === ADMIN_SCOPE) {
      throw new ClientMetadataError(
        `scope ${wanted.slice(0, 100)} is more than the initial access token holds`,
      );
    }
  }
}

export async function registerRoutes(app: FastifyInstance, options: { oauth: OAuthServer }) {
  app.post('/register', { config: { public: true } }, async (request, reply) => {
    const caller = await adminCaller(app, request);
    const body = request.body as Record<string, unknown> | undefined;
    try {
      if (typeof body !== 'object' || body === null || Array.isArray(body)) {
        throw new ClientMetadataError('send the client metadata as a JSON object');
      }
      const optionalString = (name: string) => {
        const value = body[name];
        if (value !== undefined && typeof value !== 'string') {
          throw new ClientMetadataError(`${name} must be a string`);
        }
        return value;
      };
      const redirectUris = strings(body.redirect_uris, 'redirect_uris');
      const scope = optionalString('scope') ?? '';
      checkNoEscalation(caller, scope);
      const { client, secret } = await options.oauth.clients.add(
        {
          name: optionalString('client_name') ?? 'unnamed client',
          redirectUris,
          // Not RFC 7591 metadata: where an EHR launch opens the app (POST /auth/launch).
          launchUri: optionalString('launch_uri'),
          authMethod: (optionalString('token_endpoint_auth_method') ??
            'client_secret_basic') as AuthMethod,
          jwks: body.jwks as Client['jwks'],
          jwksUri: optionalString('jwks_uri'),
          scope,
          // Without grant_types: an app users sign in to when it has redirect URIs (RFC 7591's
          // default, authorization_code), else a backend service.
          grantTypes:
            body.grant_types !== undefined
              ? strings(body.grant_types, 'grant_types')
              : redirectUris.length
                ? ['authorization_code', 'refresh_token']
                : ['client_credentials'],
        },
        SUPPORTED_GRANTS,
      );
      request.log.info({ clientId: client.clientId }, 'client registered');
      return reply
        .code(201)
        .headers(NO_STORE)
        .type('application/json; charset=utf-8')
        .send({
          ...clientMetadata(client),
          ...(secret ? { client_secret: secret, client_secret_expires_at: 0 } : {}),
        });
    } catch (error) {
      if (error instanceof ClientMetadataError) {
        throw new OAuthError(400, error.code, error.message);
      }
      throw error;
    }
  });
}
