/**
 * Grants of the authorization code flow: one user's approval for one client, and everything it
 * leads to (the code, refresh tokens, access tokens). Codes and refresh tokens are kept only as
 * SHA-256 hashes (they are 256 random bits: no KDF needed), so the table can't be replayed.
 * Revoking a grant puts each of its live access tokens on the revocation list the resource
 * server checks on every request, so the API refuses them at once on every replica.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Database, Sql } from '../db/database.js';

/** How long a code lives (SMART: short; the brief: within 60 s). */
export const CODE_SECONDS = 60;
/** offline_access: a month; online_access: a day (there is no session to end it earlier). */
export const OFFLINE_SECONDS = 30 * 24 * 3600;
export const ONLINE_SECONDS = 24 * 3600;

export const sha256 = (value: string) => createHash('sha256').update(value).digest('hex');
export const newToken = () => randomBytes(32).toString('base64url');

export interface Grant {
  id: string;
  clientId: string;
  username: string;
  scope: string;
  patient?: string;
  encounter?: string;
  nonce?: string;
  expiresAt: Date;
  revoked: boolean;
}

interface GrantRow {
  id: string;
  client_id: string;
  username: string;
  scope: string;
  patient: string | null;
  encounter: string | null;
  nonce: string | null;
  expires_at: Date | string;
  revoked_at: Date | string | null;
}

const fromRow = (row: GrantRow): Grant => ({
  id: row.id,
  clientId: row.client_id,
  username: row.username,
  scope: row.scope,
  patient: row.patient ?? undefined,
  encounter: row.encounter ?? undefined,
  nonce: row.nonce ?? undefined,
  expiresAt: new Date(row.expires_at),
  revoked: row.revoked_at !== null,
});

/**
 * Revokes the grants `where` selects (a condition on oauth_grant g) and their access tokens.
 * Two statements, in this order, on purpose (run them in one transaction): the UPDATE locks each
 * grant row, so it waits for any `recordToken` holding that row; the INSERT, a statement of its
 * own, then reads with a snapshot taken after those committed and so sees their jti. A
 * `recordToken` that comes after the UPDATE sees the grant revoked and refuses its token.
 */
export async function revokeGrantsWhere(sql: Sql, where: string, args: unknown[]): Promise<void> {
  const grants = await sql.query<{ id: string }>(
    `UPDATE oauth_grant g SET revoked_at = coalesce(revoked_at, now()) WHERE ${where} RETURNING id`,
    args,
  );
  if (grants.length === 0) return;
  await sql.query(
    `INSERT INTO oauth_revoked_token (jti, expires_at)
     SELECT t.jti, t.expires_at FROM oauth_grant_token t
     WHERE t.grant_id = ANY($1::text[]) AND t.expires_at > now()
     ON CONFLICT (jti) DO NOTHING`,
    [grants.map((g) => g.id)],
  );
}

export class Grants {
  constructor(private readonly db: Database) {}

  /** Records an approval and returns a code for it (the only time the code is in clear). */
  async approve(spec: {
    clientId: string;
    username: string;
    scope: string;
    patient?: string;
    encounter?: string;
    nonce?: string;
    redirectUri: string;
    codeChallenge: string;
    lifetimeSeconds: number;
  }): Promise<string> {
    const id = randomUUID();
    const code = newToken();
    await this.db.transaction(async (tx) => {
      await tx.query(
        `INSERT INTO oauth_grant (id, client_id, username, scope, patient, nonce, expires_at,
           encounter)
         VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7), $8)`,
        [
          id,
          spec.clientId,
          spec.username,
          spec.scope,
          spec.patient ?? null,
          spec.nonce ?? null,
          spec.lifetimeSeconds,
          spec.encounter ?? null,
        ],
      );
      await tx.query(
        `INSERT INTO oauth_code (code_hash, grant_id, redirect_uri, code_challenge, expires_at)
         VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))`,
        [sha256(code), id, spec.redirectUri, spec.codeChallenge, CODE_SECONDS],
      );
    });
    return code;
  }

  /**
   * Redeems a code, once: the first call marks it used whatever follows (a wrong verifier
   * spends it too). A code already used revokes its grant — a replay means it leaked — and
   * answers 'replayed'.
   */
  async redeem(
    code: string,
  ): Promise<
    | { outcome: 'ok'; grant: Grant; redirectUri: string; codeChallenge: string; expired: boolean }
    | { outcome: 'unknown' | 'replayed' }
  > {
    const hash = sha256(code);
    const [row] = await this.db.query<
      GrantRow & { redirect_uri: string; code_challenge: string; expired: boolean }
    >(
      `WITH used AS (UPDATE oauth_code SET used_at = now()
                     WHERE code_hash = $1 AND used_at IS NULL
                     RETURNING grant_id, redirect_uri, code_challenge, expires_at < now() AS expired)
       SELECT g.*, used.redirect_uri, used.code_challenge, used.expired
       FROM used JOIN oauth_grant g ON g.id = used.grant_id`,
      [hash],
    );
    if (row) {
      if (row.revoked_at !== null) return { outcome: 'unknown' };
      return {
        outcome: 'ok',
        grant: fromRow(row),
        redirectUri: row.redirect_uri,
        codeChallenge: row.code_challenge,
        expired: row.expired,
      };
    }
    const [spent] = await this.db.query<{ grant_id: string }>(
      'SELECT grant_id FROM oauth_code WHERE code_hash = $1',
      [hash],
    );
    if (!spent) return { outcome: 'unknown' };
    await this.db.transaction((tx) => revokeGrantsWhere(tx, 'g.id = $1', [spent.grant_id]));
    return { outcome: 'replayed' };
  }

  /**
   * Records an access token issued under a grant, so revoking the grant reaches it; call it
   * before the token leaves the server. False when the grant was revoked (a replayed code, a
   * reused refresh token, a disabled user) before the token could be recorded: the token is then
   * put on the revocation list at once and must not be handed out. The grant and user rows are
   * held (FOR SHARE) until the token's row is committed, so a concurrent revocation either waits
   * and then sees the jti, or committed first and is seen here (see revokeGrantsWhere).
   */
  async recordToken(grantId: string, jti: string, exp: number): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      // The user's row first, then the grant's: the order users.disable locks them in.
      const [user] = await tx.query<{ live: boolean }>(
        `SELECT disabled_at IS NULL AS live FROM oauth_user
         WHERE username = (SELECT username FROM oauth_grant WHERE id = $1) FOR SHARE`,
        [grantId],
      );
      const [grant] = await tx.query<{ live: boolean }>(
        'SELECT revoked_at IS NULL AS live FROM oauth_grant WHERE id = $1 FOR SHARE',
        [grantId],
      );
      await tx.query(
        `INSERT INTO oauth_grant_token (jti, grant_id, expires_at)
         VALUES ($1, $2, to_timestamp($3))`,
        [jti, grantId, exp],
      );
      if (user?.live && grant?.live) return true;
      await tx.query(
        `INSERT INTO oauth_revoked_token (jti, expires_at) VALUES ($1, to_timestamp($2))
         ON CONFLICT (jti) DO NOTHING`,
        [jti, exp],
      );
      return false;
    });
  }

  /** A new refresh token for the grant (the grant's lifetime bounds it). */
  async newRefreshToken(grant: Grant): Promise<string> {
    const token = newToken();
    await this.db.query(
      `INSERT INTO oauth_refresh_token (token_hash, grant_id, expires_at) VALUES ($1, $2, $3)`,
      [sha256(token), grant.id, grant.expiresAt],
    );
    return token;
  }

  /**
   * Revokes the grant a refresh token belongs to (RFC 7009: with its other refresh tokens and
   * its access tokens), when it is `clientId`'s (any client's when undefined: an administrator).
   * Silent otherwise: whether a token exists, or whose it is, is not told.
   */
  async revokeRefreshToken(token: string, clientId: string | undefined): Promise<void> {
    await this.db.transaction((tx) =>
      revokeGrantsWhere(
        tx,
        `g.id = (SELECT grant_id FROM oauth_refresh_token WHERE token_hash = $1)
         AND ($2::text IS NULL OR g.client_id = $2)`,
        [sha256(token), clientId ?? null],
      ),
    );
  }

  /**
   * Spends a refresh token of `clientId`'s: 'ok' with its grant (the caller issues the next
   * one), 'reused' when it was already rotated (the grant is then revoked), 'unknown' otherwise
   * (expired, revoked, another client's, never issued).
   */
  async rotate(
    token: string,
    clientId: string,
  ): Promise<{ outcome: 'ok'; grant: Grant } | { outcome: 'unknown' | 'reused' }> {
    const hash = sha256(token);
    const [row] = await this.db.query<GrantRow>(
      `UPDATE oauth_refresh_token r SET rotated_at = now()
       FROM oauth_grant g
       WHERE r.token_hash = $1 AND r.rotated_at IS NULL AND r.expires_at > now()
         AND g.id = r.grant_id AND g.client_id = $2 AND g.revoked_at IS NULL
       RETURNING g.*`,
      [hash, clientId],
    );
    if (row) return { outcome: 'ok', grant: fromRow(row) };
    const [old] = await this.db.query<{ grant_id: string; rotated: boolean }>(
      'SELECT grant_id, rotated_at IS NOT NULL AS rotated FROM oauth_refresh_token WHERE token_hash = $1',
      [hash],
    );
    if (!old?.rotated) return { outcome: 'unknown' };
    await this.db.transaction((tx) => revokeGrantsWhere(tx, 'g.id = $1', [old.grant_id]));
    return { outcome: 'reused' };
  }
}
