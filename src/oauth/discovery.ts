import type { FastifyInstance } from 'fastify';
import { oauthEndpoints } from './issuer.js';
import type { OAuthServer } from './oauth.js';
import { ASSERTION_ALGS } from './client-auth.js';
import { SUPPORTED_GRANTS } from './clients.js';

const CLIENT_AUTH_METHODS = ['client_secret_basic', 'private_key_jwt'];

/**
 * What the authorization server does, as RFC 8414 / OpenID discovery says it: only what works.
 * The standalone and EHR launches (authorization code with PKCE S256, refresh, id tokens) and backend
 * services (client_credentials). Public clients authenticate at the token endpoint with
 * `none`, and may revoke their own tokens naming themselves with client_id (RFC 7009 §5);
 * introspection needs a confidential client.
 */
export function openidConfiguration(baseUrl: string) {
  return {
    ...oauthEndpoints(baseUrl),
    response_types_supported: ['code'],
    code_challenge_methods_supported: ['S256'],
    grant_types_supported: [...SUPPORTED_GRANTS],
    token_endpoint_auth_methods_supported: ['none', ...CLIENT_AUTH_METHODS],
    token_endpoint_auth_signing_alg_values_supported: ASSERTION_ALGS,
    introspection_endpoint_auth_methods_supported: CLIENT_AUTH_METHODS,
    revocation_endpoint_auth_methods_supported: ['none', ...CLIENT_AUTH_METHODS],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: ['RS256'],
    scopes_supported: [...USER_SCOPES, ...SYSTEM_SCOPES],
  };
}

/** Scopes an app a user signs in to may ask for (patient/ and user/ of any type too). */
const USER_SCOPES = [
  'openid',
  'fhirUser',
  'launch',
  'launch/patient',
  'launch/encounter',
  'offline_access',
  'online_access',
  'patient/*.rs',
  'patient/*.read',
  'user/*.rs',
  'user/*.cruds',
  'user/*.read',
  'user/*.write',
];

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
      'launch-standalone',
      'launch-ehr',
      'context-ehr-patient',
      'context-ehr-encounter',
      'authorize-post',
      'client-public',
      'client-confidential-asymmetric',
      'client-confidential-symmetric',
      'sso-openid-connect',
      'context-standalone-patient',
      'permission-offline',
      'permission-online',
      'permission-patient',
      'permission-user',
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
