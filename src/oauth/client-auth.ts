/**
 * Who is calling the token, introspection and revocation endpoints: a registered, enabled
 * client, proved by HTTP Basic with its secret (client_secret_basic) or by a JWT it signed
 * with a key in its JWKS (private_key_jwt, RFC 7523 as SMART Backend Services profiles it).
 * Every failure is invalid_client (401) and says what was wrong without echoing the credential.
 */
import { createLocalJWKSet, decodeJwt, jwtVerify, type JSONWebKeySet, type JWTPayload } from 'jose';
import type { Sql } from '../db/database.js';
import type { Client, Clients } from './clients.js';
import { invalidClient, invalidRequest } from './errors.js';
import { verifySecret } from './secrets.js';

export const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** The algorithms SMART Backend Services allows for client assertions. */
export const ASSERTION_ALGS = ['RS384', 'ES384'];
/** How far ahead an assertion may expire (SMART: no more than five minutes). */
const MAX_ASSERTION_SECONDS = 300;
const CLOCK_SKEW_SECONDS = 60;

/**
 * Clients' JWKS by URL, fetched when first needed and kept (jose caches each set for ten
 * minutes and refetches, at most every 30 s, when an assertion names an unknown kid). Public
 * keys only: what another replica fetched it fetches for itself.
 */
/** The most a client's JWKS document may weigh: a few keys are a few KiB. */
const JWKS_MAX_BYTES = 64 * 1024;
const JWKS_TIMEOUT_MS = 5000;
const JWKS_MAX_AGE_MS = 10 * 60_000;
/** An unknown kid refetches the set, but not more often than this. */
const JWKS_COOLDOWN_MS = 30_000;

/**
 * Fetches a client's JWKS: no redirects, a timeout, and at most JWKS_MAX_BYTES read, so a
 * jwks_uri can't make the server download something large or wait long. Any failure is one
 * error: what went wrong at someone else's address is not told back.
 */
async function fetchJwks(uri: string): Promise<LocalJwks> {
  try {
    const response = await fetch(uri, {
      redirect: 'error',
      signal: AbortSignal.timeout(JWKS_TIMEOUT_MS),
      headers: { accept: 'application/json, application/jwk-set+json' },
    });
    if (!response.ok || !response.body) throw new Error('status');
    const reader = response.body.getReader();
    const chunks: Uint8Array[] = [];
    let size = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > JWKS_MAX_BYTES) {
        await reader.cancel();
        throw new Error('too large');
      }
      chunks.push(value);
    }
    return createLocalJWKSet(JSON.parse(Buffer.concat(chunks).toString('utf8')) as JSONWebKeySet);
  } catch {
    throw Object.assign(new Error('the client JWKS is unavailable'), { code: 'ERR_JWKS_REMOTE' });
  }
}

type LocalJwks = ReturnType<typeof createLocalJWKSet>;
interface Fetched {
  at: number;
  keys: Promise<LocalJwks>;
}

/** Remote JWKS by URL, cached for JWKS_MAX_AGE_MS (immutable data: allowed in memory). */
export class RemoteKeySets {
  private readonly sets = new Map<string, Fetched>();

  private load(uri: string, fresh: boolean): Fetched {
    const cached = this.sets.get(uri);
    const age = cached ? Date.now() - cached.at : Infinity;
    if (cached && age < (fresh ? JWKS_COOLDOWN_MS : JWKS_MAX_AGE_MS)) return cached;
    if (this.sets.size >= 1000) this.sets.delete(this.sets.keys().next().value!);
    const fetched: Fetched = { at: Date.now(), keys: fetchJwks(uri) };
    fetched.keys.catch(() => this.sets.delete(uri));
    this.sets.set(uri, fetched);
    return fetched;
  }

  get(uri: string): LocalJwks {
    return (async (header, token) => {
      try {
        return await (
          await this.load(uri, false).keys
        )(header, token);
      } catch (error) {
        if ((error as { code?: string }).code !== 'ERR_JWKS_NO_MATCHING_KEY') throw error;
        return (await this.load(uri, true).keys)(header, token); // a new key: refetch once
      }
    }) as LocalJwks;
  }
}

export interface ClientAuthContext {
  clients: Clients;
  sql: Sql;
  keySets: RemoteKeySets;
  /** The URL the assertion's aud must name: this token endpoint. */
  tokenUrl: string;
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/**
 * RFC 6749 §2.3.1: id and secret are form-urlencoded inside the Basic credentials. Control
 * characters (raw or encoded) are refused: no id or secret has them, and Postgres refuses NUL.
 */
function basicCredentials(header: string): { id: string; secret: string } {
  const decoded = Buffer.from(header.replace(/^Basic\s+/i, ''), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) throw invalidClient('malformed Basic credentials', true);
  let id: string;
  let secret: string;
  try {
    id = decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, ' '));
    secret = decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, ' '));
  } catch {
    throw invalidClient('malformed Basic credentials', true);
  }
  if (CONTROL.test(id + secret)) throw invalidClient('malformed Basic credentials', true);
  return { id, secret };
}

async function bySecret(header: string, context: ClientAuthContext): Promise<Client> {
  const { id, secret } = basicCredentials(header);
  const client = id.length <= 200 ? await context.clients.get(id) : undefined;
  const ok =
    client?.authMethod === 'client_secret_basic' &&
    client.secretHash !== undefined &&
    (await verifySecret(secret, client.secretHash));
  if (!client || !ok) throw invalidClient('unknown client or wrong secret', true);
  if (client.disabled) throw invalidClient('the client is disabled', true);
  return client;
}

/** Records the assertion's jti until it expires; false when it was seen before. */
async function firstUse(sql: Sql, clientId: string, jti: string, exp: number): Promise<boolean> {
  await sql.query('DELETE FROM oauth_used_jti WHERE expires_at < now()');
  const rows = await sql.query(
    `INSERT INTO oauth_used_jti (client_id, jti, expires_at) VALUES ($1, $2, to_timestamp($3))
     ON CONFLICT DO NOTHING RETURNING jti`,
    [clientId, jti, exp + CLOCK_SKEW_SECONDS],
  );
  return rows.length > 0;
}

async function byAssertion(
  assertion: string,
  claimedId: string | undefined,
  context: ClientAuthContext,
): Promise<Client> {
  let unverified: JWTPayload;
  try {
    unverified = decodeJwt(assertion);
  } catch {
    throw invalidClient('client_assertion is not a JWT');
  }
  const clientId = unverified.iss;
  if (typeof clientId !== 'string' || clientId.length > 200) {
    throw invalidClient('client_assertion has no iss');
  }
  // Unverified claims reach Postgres (iss now, jti later): no control characters in them.
  const text = [unverified.iss, unverified.sub, unverified.jti].filter(
    (v) => typeof v === 'string',
  );
  if (CONTROL.test(text.join(''))) {
    throw invalidClient('client_assertion has control characters in its claims');
  }
  if (claimedId !== undefined && claimedId !== clientId) {
    throw invalidClient('client_id and the assertion disagree');
  }
  const client = await context.clients.get(clientId);
  if (!client || client.authMethod !== 'private_key_jwt') {
    throw invalidClient('unknown client, or not one that authenticates with keys');
  }
  if (client.disabled) throw invalidClient('the client is disabled');
  const keys = client.jwks ? createLocalJWKSet(client.jwks) : context.keySets.get(client.jwksUri!);
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(assertion, keys, {
      algorithms: ASSERTION_ALGS,
      issuer: clientId,
      subject: clientId,
      audience: context.tokenUrl,
      requiredClaims: ['exp', 'jti'],
      clockTolerance: CLOCK_SKEW_SECONDS,
    }));
  } catch (error) {
    const code = (error as { code?: string }).code ?? '';
    const why =
      code === 'ERR_JWT_EXPIRED'
        ? 'client_assertion has expired'
        : code === 'ERR_JWT_CLAIM_VALIDATION_FAILED'
          ? `client_assertion claim "${(error as { claim?: string }).claim}" is not valid`
          : code === 'ERR_JOSE_ALG_NOT_ALLOWED'
            ? `client_assertion must be signed with ${ASSERTION_ALGS.join(' or ')}`
            : client.jwksUri !== undefined || code.startsWith('ERR_JWKS')
              ? // One answer, whatever happened at the client's jwks_uri: no probe oracle.
                "client_assertion could not be verified with the client's keys"
              : 'client_assertion signature or format is not valid';
    throw invalidClient(why);
  }
  const now = Math.floor(Date.now() / 1000);
  if (payload.exp! > now + MAX_ASSERTION_SECONDS + CLOCK_SKEW_SECONDS) {
    throw invalidClient('client_assertion expires more than five minutes ahead');
  }
  if (typeof payload.jti !== 'string' || !payload.jti || payload.jti.length > 200) {
    throw invalidClient('client_assertion needs a jti');
  }
  if (!(await firstUse(context.sql, clientId, payload.jti, payload.exp!))) {
    throw invalidClient('client_assertion jti was used before');
  }
  return client;
}

/** The authenticated client of a request to the token, introspection or revocation endpoint. */
export async function authenticateClient(
  params: URLSearchParams,
  authorization: string | undefined,
  context: ClientAuthContext,
): Promise<Client> {
  const assertionType = params.get('client_assertion_type');
  const assertion = params.get('client_assertion');
  const basic = authorization !== undefined && /^Basic\s/i.test(authorization);
  if (params.has('client_secret')) {
    throw invalidClient('send the client secret with HTTP Basic (client_secret_basic)');
  }
  if (basic && (assertionType !== null || assertion !== null)) {
    throw invalidRequest('use one way to authenticate the client, not two');
  }
  if (basic) return bySecret(authorization, context);
  if (assertionType !== null || assertion !== null) {
    if (assertionType !== JWT_BEARER) {
      throw invalidClient(`client_assertion_type must be ${JWT_BEARER}`);
    }
    if (!assertion) throw invalidClient('client_assertion is missing');
    return byAssertion(assertion, params.get('client_id') ?? undefined, context);
  }
  throw invalidClient('client authentication is required', true);
}
