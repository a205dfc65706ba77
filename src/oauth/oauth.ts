/**
 * The built-in authorization server's state, all of it in Postgres (the workflow's database:
 * the store's own, or DATABASE_URL / DATA_DIR's PGlite beside HealthLake), so any number of
 * replicas behave as one. Opened once at start-up; its numbered migrations are its own.
 */
import type { BuiltInIssuer } from '../auth/authenticate.js';
import type { Config } from '../config.js';
import { oauthIssuer } from './issuer.js';
import type { KeyWrapper } from '../identity/key-wrapper.js';
import type { Database } from '../db/database.js';
import { migrate, OAUTH_MIGRATIONS } from '../db/migrate.js';
import { loadKeyCipher } from './key-encryption.js';
import { Clients } from './clients.js';
import { Revocations } from './revocations.js';
import { Users } from './users.js';
import { SigningKeys } from './signing-keys.js';

/**
 * Whether this server issues its own tokens: when neither an external issuer's JWKS
 * (AUTH_JWKS_URI) nor a shared HS256 secret (AUTH_HS256_SECRET, tests) says where they come from.
 */
export function builtInIssuer(config: Pick<Config, 'auth'>): boolean {
  return !config.auth.jwksUri && !config.auth.hs256Secret;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The built-in authorization server, when this server issues its own tokens. */
    oauthServer?: OAuthServer;
  }
}

export interface OAuthServer {
  readonly db: Database;
  readonly keys: SigningKeys;
  readonly clients: Clients;
  readonly revocations: Revocations;
}

export async function openOAuth(db: Database, wrapper: KeyWrapper): Promise<OAuthServer> {
  await migrate(db, OAUTH_MIGRATIONS, 'oauth_migrations');
  const keys = new SigningKeys(db, await loadKeyCipher(db, wrapper));
  await keys.start();
  return { db, keys, clients: new Clients(db), revocations: new Revocations(db) };
}

/** What the resource server needs of the built-in issuer to accept its tokens, in process. */
export function builtInVerification(
  oauth: OAuthServer,
  config: Pick<Config, 'baseUrl'>,
): BuiltInIssuer {
  return {
    issuer: () => oauthIssuer(config.baseUrl),
    publicKey: async (kid) => (await oauth.keys.publicKey(kid))?.publicPem,
    isRevoked: (jti) => oauth.revocations.isRevoked(jti),
  };
}

/**
 * Why a grant this server issued no longer stands, or undefined while it does (or when
 * another issuer made it): its client disabled or gone, or, for a user's token, the user. For
 * what outlives a token, such as a Subscription delivering under its creator's grant.
 */
export function grantStanding(
  oauth: OAuthServer,
  config: Pick<Config, 'baseUrl'>,
): (claims: {
  iss?: unknown;
  sub?: unknown;
  client_id?: unknown;
  azp?: unknown;
  role?: unknown;
  fhirUser?: unknown;
}) => Promise<string | undefined> {
  const users = new Users(oauth.db);
  return async (claims) => {
    if (claims.iss !== oauthIssuer(config.baseUrl)) return undefined;
    const clientId =
      typeof claims.client_id === 'string'
        ? claims.client_id
        : typeof claims.azp === 'string'
          ? claims.azp
          : undefined;
    const client = clientId ? await oauth.clients.get(clientId) : undefined;
    if (!client || client.disabled) return 'the client it was created by is disabled';
    // A backend service's token names the client as its subject and carries no user claims; a
    // user's names the user (and carries their role and fhirUser), whatever the name.
    const userToken =
      claims.role !== undefined || claims.fhirUser !== undefined || claims.sub !== clientId;
    if (typeof claims.sub === 'string' && userToken) {
      const user = await users.get(claims.sub);
      if (!user || user.disabled) return 'the user it was created by is disabled';
    }
    return undefined;
  };
}
