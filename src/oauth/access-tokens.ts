/**
 * The access tokens the built-in server issues: RS256 JWTs the resource server verifies like
 * any other (src/auth/authenticate.ts), with a jti so they can be revoked, and introspected.
 */
import { randomUUID } from 'node:crypto';
import { jwtVerify, type JWTPayload } from 'jose';
import type { SigningKeys } from './signing-keys.js';

/** Lifetime of a backend service's token (SMART Backend Services recommends five minutes). */
export const BACKEND_TOKEN_SECONDS = 300;

export interface IssuedToken {
  accessToken: string;
  expiresIn: number;
  scope: string;
  /** Its id and expiry (seconds since the epoch), for revocation. */
  jti: string;
  exp: number;
}

export async function issueAccessToken(
  keys: SigningKeys,
  claims: { iss: string; aud: string; sub: string; client_id: string; scope: string } & Record<
    string,
    unknown
  >,
  lifetime = BACKEND_TOKEN_SECONDS,
): Promise<IssuedToken> {
  const now = Math.floor(Date.now() / 1000);
  const jti = randomUUID();
  const exp = now + lifetime;
  const accessToken = await keys.sign({ ...claims, jti, exp });
  return { accessToken, expiresIn: lifetime, scope: claims.scope, jti, exp };
}

/**
 * The claims of a token this server issued and that is still within its lifetime, or
 * undefined for anything else (another issuer's token, a bad signature, expired, garbage).
 * Revocation is the caller's to check.
 */
export async function verifyOwnToken(
  keys: SigningKeys,
  token: string,
  issuer: string,
): Promise<JWTPayload | undefined> {
  try {
    const { payload } = await jwtVerify(
      token,
      async (header) => {
        const key = await keys.publicKey(header.kid);
        if (!key) throw new Error('unknown key');
        return key.publicKey;
      },
      { algorithms: ['RS256'], issuer, requiredClaims: ['exp', 'jti'] },
    );
    return payload;
  } catch {
    return undefined;
  }
}
