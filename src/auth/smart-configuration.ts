import { builtInSmartConfiguration } from '../oauth/discovery.js';
import { builtInIssuer } from '../oauth/oauth.js';
import type { FastifyInstance } from 'fastify';

export const SMART_CAPABILITIES = [
  'launch-standalone',
  'client-public',
  'client-confidential-symmetric',
  'context-standalone-patient',
  'permission-patient',
  'permission-user',
  'permission-v1',
  'permission-v2',
  'sso-openid-connect',
];

/**
 * What SMART App Launch 2 discovery advertises: the authorization server and what we accept.
 * With the built-in server (src/oauth/), exactly its endpoints; else the configured ones.
 */
export function smartConfiguration(app: FastifyInstance) {
  if (builtInIssuer(app.config)) return builtInSmartConfiguration(app.config.baseUrl);
  const { auth } = app.config;
  return {
    issuer: auth.issuer,
    jwks_uri: auth.jwksUri,
    authorization_endpoint: auth.authorizationEndpoint,
    token_endpoint: auth.tokenEndpoint,
    grant_types_supported: ['authorization_code', 'client_credentials'],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    scopes_supported: [
      'openid',
      'fhirUser',
      'launch/patient',
      'offline_access',
      'patient/*.rs',
      'user/*.cruds',
      'system/*.cruds',
      'patient/*.read',
      'user/*.read',
      'user/*.write',
      'system/*.read',
      'system/*.write',
    ],
    response_types_supported: ['code'],
    capabilities: SMART_CAPABILITIES,
    code_challenge_methods_supported: ['S256'],
  };
}

export async function smartConfigurationRoutes(app: FastifyInstance) {
  app.get(
    '/.well-known/smart-configuration',
    { config: { public: true } },
    async (_request, reply) =>
      reply.type('application/json; charset=utf-8').send(smartConfiguration(app)),
  );
}
