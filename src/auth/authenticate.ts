import fastifyJwt from '@fastify/jwt';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import buildGetJwks from 'get-jwks';
import { decodeProtectedHeader } from 'jose';
import { buildAuditEvent, type AuditInteraction } from '../audit/event.js';
import type { AuthConfig } from '../config.js';
import { FhirError } from '../fhir/errors.js';
import type { FhirStore } from '../store/store.js';
import type { TokenClaims } from './claims.js';

declare module '@fastify/jwt' {
  interface FastifyJWT {
    user: TokenClaims;
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * Verifies the request's bearer token as the gate does (signature, issuer, audience, expiry,
     * revocation) and returns its claims; throws a FhirError 401 otherwise. For public routes
     * that take a token of their own accord (the authorization server's registration).
     */
    verifyBearer(request: FastifyRequest): Promise<TokenClaims>;
  }
  interface FastifyContextConfig {
    /** Answered without a token (discovery, health). Set on the route, never derived from a URL. */
    public?: boolean;
  }
}

/**
 * Whether the matched route is public. The router decodes and normalises the path
 * (`/%66hir/Patient` routes as `/fhir/Patient`), so a test on the raw URL would let such
 * spellings past the gate; the route's own config can't be spelled differently. Unmatched
 * requests (the 404 handler) and every route not marked public need a token. CORS preflights
 * never get here: @fastify/cors answers them in its own onRequest hook, registered first.
 */
export function isPublic(request: FastifyRequest): boolean {
  return request.routeOptions.config.public === true;
}

const invalidToken = (why: string) =>
  new FhirError(401, 'login', `Authentication failed: ${why}`, undefined, {
    'www-authenticate': `Bearer realm="telefhir", error="invalid_token", error_description="${why}"`,
  });

/** Why a token was refused, in words safe to send back (never the token itself). */
function reason(error: unknown): string {
  const code = (error as { code?: string }).code ?? '';
  if (code === 'FST_JWT_NO_AUTHORIZATION_IN_HEADER') return 'no bearer token';
  if (code === 'FST_JWT_BAD_REQUEST' || code.includes('MALFORMED')) return 'malformed token';
  if (code.includes('EXPIRED')) return 'token expired';
  if (code.includes('INACTIVE') || code.includes('NOT_BEFORE')) return 'token not yet valid';
  const message = (error as Error).message ?? '';
  if (/signature/i.test(message)) return 'bad signature';
  if (/iss/.test(message)) return 'wrong issuer';
  return 'invalid token';
}

/** `aud` must name us; Cognito access tokens carry no aud, their client_id stands for it. */
function checkAudience(claims: TokenClaims, audience: string): void {
  if (claims.token_use === 'access' && claims.aud === undefined) {
    if (claims.client_id !== audience) throw invalidToken('wrong audience');
    return;
  }
  const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  if (!audiences.includes(audience)) throw invalidToken('wrong audience');
}

/**
 * The built-in authorization server (src/oauth/), as the resource server needs it: its keys,
 * looked up in process (no HTTP), its issuer, and its revocation list.
 */
export interface BuiltInIssuer {
  /** `{origin of FHIR_BASE_URL}/auth`, computed when asked (the base URL is known late in tests). */
  issuer(): string;
  /** The SPKI PEM of a signing key, or undefined when no such key is published. */
  publicKey(kid: string | undefined): Promise<string | undefined>;
  isRevoked(jti: string): Promise<boolean>;
}

export interface AuthenticationOptions {
  auth: AuthConfig;
  /**
   * The HS256 secret in force (configured or the development one). With `builtIn`, the
   * development secret, still accepted beside the built-in keys outside production.
   */
  secret: string | undefined;
  builtIn?: BuiltInIssuer;
  /** Where refused requests are audited. */
  store: FhirStore;
}

/** What an unauthenticated request was trying to do, read from its method and path. */
export function attempted(
  method: string,
  url: string,
): { interaction: AuditInteraction; target?: string } {
  const segments = url.split('?')[0]!.split('/').filter(Boolean).slice(1); // after /fhir
  const [type, id] = segments;
  const target =
    type && id && /^[A-Z]/.test(type) && !/^[_$]/.test(id) ? `${type}/${id}` : undefined;
  const operation = segments.some((segment) => segment.startsWith('$'));
  switch (method) {
    case 'GET':
    case 'HEAD':
      if (operation) return { interaction: 'operation', target };
      if (segments.includes('_history')) return { interaction: 'history', target };
      return { interaction: target ? 'read' : 'search', target };
    case 'POST':
      if (!segments.length) return { interaction: 'batch' };
      if (operation) return { interaction: 'operation', target };
      return { interaction: segments.at(-1) === '_search' ? 'search' : 'create' };
    case 'PUT':
    case 'PATCH':
      return { interaction: 'update', target };
    case 'DELETE':
      return { interaction: 'delete', target };
    default:
      return { interaction: 'operation', target };
  }
}

/** A refused token is audited like any denied request: who is unknown, where from is not. */
async function auditRefusal(store: FhirStore, request: FastifyRequest): Promise<void> {
  const { interaction, target } = attempted(request.method, request.url);
  const event = buildAuditEvent({
    interaction,
    outcome: 'minor',
    who: { display: 'unauthenticated' },
    subject: 'unauthenticated',
    address: request.ip,
    requestId: request.id,
    entities: target ? [{ reference: target }] : [],
  });
  try {
    await store.audit(event);
  } catch (err) {
    request.log.error({ err }, 'could not record the AuditEvent of a refused token');
  }
}

/**
 * Verifies the bearer token of every non-public request: HS256 with a shared secret, or
 * RS256/ES256 with keys from the JWKS (cached; an unknown kid triggers a refetch). Issuer,
 * audience, expiry and not-before (60 s of clock skew) are checked. The claims land on
 * request.user.
 */
export const authentication = fp(async (app: FastifyInstance, options: AuthenticationOptions) => {
  const { auth, secret, store, builtIn } = options;
  const common = {
    // With the built-in issuer, the issuer depends on the algorithm (checkBuiltInIssuer).
    allowedIss: builtIn ? undefined : auth.issuer,
    clockTolerance: 60_000,
    requiredClaims: ['exp'],
    // A client sends the same token on every request until it expires: fast-jwt keeps a token
    // that passed (signature and claims) for a minute, never past its own exp or before its
    // nbf, so a repeat costs a hash lookup instead of an HMAC or RSA verify. Failures are not
    // kept. The audience is checked on every request (checkAudience).
    cache: 1000,
    cacheTTL: 60_000,
  };
  if (auth.jwksUri) {
    const jwksUrl = new URL(auth.jwksUri);
    const jwks = buildGetJwks({
      jwksPath: jwksUrl.pathname,
      ttl: 10 * 60_000,
      providerDiscovery: false,
    });
    await app.register(fastifyJwt, {
      decode: { complete: true },
      secret: async (_request: FastifyRequest, token: unknown) => {
        const { header } = token as { header: { kid?: string; alg?: string } };
        return jwks.getPublicKey({ domain: jwksUrl.origin, kid: header.kid, alg: header.alg });
      },
      verify: { ...common, algorithms: ['RS256', 'ES256'] },
    });
  } else if (builtIn) {
    // The key follows the token's alg: RS256 → the built-in key its kid names; HS256 → the
    // development secret, when there is one. A token can't pick the key's type (no public key
    // used as an HMAC secret), and no other alg (none among them) is accepted.
    await app.register(fastifyJwt, {
      decode: { complete: true },
      secret: async (_request: FastifyRequest, token: unknown) => {
        const { header } = token as { header: { kid?: string; alg?: string } };
        if (header.alg === 'RS256') {
          const key = await builtIn.publicKey(header.kid);
          if (key) return key;
        } else if (header.alg === 'HS256' && secret) return secret;
        throw new Error('no key for this signature');
      },
      verify: { ...common, algorithms: secret ? ['RS256', 'HS256'] : ['RS256'] },
    });
  } else {
    await app.register(fastifyJwt, {
      secret: secret!,
      verify: { ...common, algorithms: ['HS256'] },
    });
  }

  /** Built-in tokens name the built-in issuer and may be revoked; development ones name ours. */
  async function checkBuiltIn(request: FastifyRequest, claims: TokenClaims): Promise<void> {
    const bearer = request.headers.authorization?.replace(/^Bearer\s+/i, '') ?? '';
    const alg = decodeProtectedHeader(bearer).alg;
    const issuer = alg === 'RS256' ? builtIn!.issuer() : auth.issuer;
    if (claims.iss !== issuer) throw invalidToken('wrong issuer');
    if (alg !== 'RS256') return;
    if (typeof claims.jti !== 'string') throw invalidToken('token has no jti');
    if (await builtIn!.isRevoked(claims.jti)) throw invalidToken('token revoked');
  }

  const verifyBearer = async (request: FastifyRequest): Promise<TokenClaims> => {
    try {
      await request.jwtVerify();
      checkAudience(request.user, auth.audience);
      if (builtIn) await checkBuiltIn(request, request.user);
      return request.user;
    } catch (error) {
      throw error instanceof FhirError ? error : invalidToken(reason(error));
    }
  };
  app.decorate('verifyBearer', verifyBearer);

  app.addHook('onRequest', async (request) => {
    if (isPublic(request)) return;
    try {
      await verifyBearer(request);
    } catch (error) {
      await auditRefusal(store, request);
      throw error;
    }
  });
});
