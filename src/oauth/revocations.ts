/**
 * Access tokens revoked before they expire (RFC 7009), in Postgres so every replica refuses
 * them at once. The resource server asks on every request bearing a built-in token: one
 * primary-key probe (a prepared statement), no cache, so a revocation holds on every replica
 * from the moment it commits. Rows leave once their token has expired.
 */
import type { Sql } from '../db/database.js';

export class Revocations {
  constructor(private readonly sql: Sql) {}

  async isRevoked(jti: string): Promise<boolean> {
    const rows = await this.sql.query(
      'SELECT 1 FROM oauth_revoked_token WHERE jti = $1',
      [jti],
      'oauth_is_revoked',
    );
    return rows.length > 0;
  }

  /** Revokes the token `jti` until `exp` (seconds since the epoch); idempotent. */
  async revoke(jti: string, exp: number): Promise<void> {
    await this.sql.query(
      `INSERT INTO oauth_revoked_token (jti, expires_at) VALUES ($1, to_timestamp($2))
       ON CONFLICT (jti) DO NOTHING`,
      [jti, exp],
    );
    await this.sql.query('DELETE FROM oauth_revoked_token WHERE expires_at < now()');
  }
}
