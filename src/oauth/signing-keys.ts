/**
 * The authorization server's RS256 signing keys, in Postgres so every replica signs and
 * verifies with the same ones. One key signs; a rotated-out key stays in the JWKS (and keeps
 * verifying) until every token it could have signed has expired. Keys are immutable once
 * made, so caching them in memory is safe; what changes (which key signs, which keys exist) is
 * re-read from the database at most every RELOAD_MS, and at once when a token names an unknown
 * kid (rate-limited), so a rotation on one replica reaches the others within seconds.
 */
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import {
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  SignJWT,
  type JWK,
  type JWTPayload,
} from 'jose';
import type { Sql } from '../db/database.js';
import type { KeyCipher } from './key-encryption.js';

export const SIGNING_ALG = 'RS256';
/** The longest lifetime of any token these keys sign: how long a retired key stays published. */
export const MAX_TOKEN_SECONDS = 3600;
const RELOAD_MS = 30_000;
const UNKNOWN_KID_RELOAD_MS = 5_000;

interface LoadedKey {
  kid: string;
  publicJwk: JWK;
  publicKey: KeyObject;
  /** SPKI PEM, the form fast-jwt verifies with. */
  publicPem: string;
  active: boolean;
}

interface Row {
  kid: string;
  public_jwk: JWK | string;
  private_jwk: string;
  retired_at: Date | string | null;
}

async function makeKey(sql: Sql, cipher: KeyCipher): Promise<void> {
  const { publicKey, privateKey } = await generateKeyPair(SIGNING_ALG, {
    modulusLength: 2048,
    extractable: true,
  });
  const publicJwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(publicJwk, 'sha256');
  const privateJwk = await exportJWK(privateKey);
  const record = { ...publicJwk, kid, alg: SIGNING_ALG, use: 'sig' };
  await sql.query(
    `INSERT INTO oauth_signing_key (kid, alg, public_jwk, private_jwk) VALUES ($1, $2, $3, $4)
     ON CONFLICT DO NOTHING`,
    [kid, SIGNING_ALG, JSON.stringify(record), cipher.seal(JSON.stringify(privateJwk), kid)],
  );
}

export class SigningKeys {
  private keys = new Map<string, LoadedKey>();
  private signer: { kid: string; key: KeyObject } | undefined;
  private loadedAt = 0;
  private lastUnknownReload = 0;
  private loading: Promise<void> | undefined;

  constructor(
    private readonly db: Sql,
    private readonly cipher: KeyCipher,
  ) {}

  /** Reads the keys, making the first one when there is none; call once at start-up. */
  async start(): Promise<void> {
    await this.reload();
    if (!this.signer) {
      // The unique index on the active key lets one of two racing replicas win; both read it.
      await makeKey(this.db, this.cipher);
      await this.reload();
    }
    if (!this.signer) throw new Error('oauth_signing_key: no active signing key');
  }

  private reload(): Promise<void> {
    this.loading ??= this.read().finally(() => (this.loading = undefined));
    return this.loading;
  }

  private async read(): Promise<void> {
    const rows = await this.db.query<Row>(
      `SELECT kid, public_jwk, private_jwk, retired_at FROM oauth_signing_key
       WHERE retired_at IS NULL OR retired_at > now() - make_interval(secs => $1)
       ORDER BY created_at`,
      [MAX_TOKEN_SECONDS],
    );
    const keys = new Map<string, LoadedKey>();
    let signer: SigningKeys['signer'];
    for (const row of rows) {
      const publicJwk =
        typeof row.public_jwk === 'string' ? JSON.parse(row.public_jwk) : row.public_jwk;
      const publicKey = createPublicKey({ key: publicJwk, format: 'jwk' });
      const active = row.retired_at === null;
      keys.set(row.kid, {
        kid: row.kid,
        publicJwk,
        publicKey,
        publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
        active,
      });
      if (active) {
        const known = this.signer?.kid === row.kid ? this.signer : undefined;
        signer = known ?? {
          kid: row.kid,
          key: createPrivateKey({
            key: JSON.parse(this.cipher.open(row.private_jwk, row.kid)),
            format: 'jwk',
          }),
        };
      }
    }
    this.keys = keys;
    this.signer = signer;
    this.loadedAt = Date.now();
  }

  private async fresh(): Promise<void> {
    if (Date.now() - this.loadedAt > RELOAD_MS) await this.reload();
  }

  /** The public keys, as `GET /auth/jwks` serves them. */
  async jwks(): Promise<{ keys: JWK[] }> {
    await this.fresh();
    return { keys: [...this.keys.values()].map((key) => key.publicJwk) };
  }

  /** Signs a JWT with the active key; the caller sets every claim (iat is added). */
  async sign(claims: JWTPayload, typ = 'JWT'): Promise<string> {
    await this.fresh();
    const signer = this.signer!;
    return new SignJWT(claims)
      .setProtectedHeader({ alg: SIGNING_ALG, kid: signer.kid, typ })
      .setIssuedAt()
      .sign(signer.key);
  }

  /** The public key of `kid`, re-reading the table (rate-limited) when it's not known here. */
  async publicKey(kid: string | undefined): Promise<LoadedKey | undefined> {
    if (!kid) return undefined;
    await this.fresh();
    let key = this.keys.get(kid);
    if (!key && Date.now() - this.lastUnknownReload > UNKNOWN_KID_RELOAD_MS) {
      this.lastUnknownReload = Date.now();
      await this.reload();
      key = this.keys.get(kid);
    }
    return key;
  }

  /**
   * Makes a new signing key and retires the current one, which stays published until the
   * tokens it signed have expired. Every replica picks the new key up within RELOAD_MS.
   */
  async rotate(transaction: <T>(work: (tx: Sql) => Promise<T>) => Promise<T>): Promise<string> {
    await transaction(async (tx) => {
      await tx.query('UPDATE oauth_signing_key SET retired_at = now() WHERE retired_at IS NULL');
      await makeKey(tx, this.cipher);
    });
    await this.reload();
    return this.signer!.kid;
  }
}

/** A signing key as `npm run auth-keys -- list` shows it: never any key material. */
export interface SigningKeyInfo {
  kid: string;
  created: Date;
  /** When a newer key replaced it; undefined for the key that signs. */
  retired: Date | undefined;
  /** Until when a retired key stays in the JWKS (retired + MAX_TOKEN_SECONDS). */
  publishedUntil: Date | undefined;
}

/** Every signing key, oldest first, with when it was made and retired. */
export async function listSigningKeys(db: Sql): Promise<SigningKeyInfo[]> {
  const rows = await db.query<{
    kid: string;
    created_at: Date | string;
    retired_at: Date | string | null;
  }>('SELECT kid, created_at, retired_at FROM oauth_signing_key ORDER BY created_at, kid');
  return rows.map((row) => {
    const retired = row.retired_at === null ? undefined : new Date(row.retired_at);
    return {
      kid: row.kid,
      created: new Date(row.created_at),
      retired,
      publishedUntil: retired && new Date(retired.getTime() + MAX_TOKEN_SECONDS * 1000),
    };
  });
}
