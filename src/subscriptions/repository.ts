/**
 * The subscription table (migrations/workflow/004_subscriptions.sql): Subscription resources
 * with their owner, grant facts, secret and delivery state. Every query names the owner, so a
 * caller only ever finds the Subscriptions its own token created.
 */
import type { Subscription } from 'fhir/r4.js';
import type { Sql } from '../db/database.js';
import type { GrantClaims } from './owner.js';

export type Status = 'requested' | 'active' | 'error' | 'off';

export interface SubscriptionRow {
  id: string;
  version_id: number;
  owner: string;
  grant_claims: GrantClaims;
  resource: Subscription;
  status: Status;
  error: string | null;
  criteria_type: string;
  channel: string;
  secret: string;
  updated: string;
  end_at: Date;
}

const COLUMNS = `id, version_id, owner, grant_claims, resource, status, error, criteria_type, channel,
  secret, resource->'meta'->>'lastUpdated' AS updated, end_at`;

/**
 * The resource as served: the stored body with the server-kept status and error; a
 * Subscription past its end is `off` (the deliverer records it on its next pass).
 */
export function served(row: SubscriptionRow, now: Date): Subscription {
  const ended = new Date(row.end_at).getTime() <= now.getTime();
  const status: Status = ended && row.status !== 'error' ? 'off' : row.status;
  const resource: Subscription = { ...row.resource, status };
  if (row.error) resource.error = row.error;
  else delete resource.error;
  return resource;
}

export async function findOwned(
  sql: Sql,
  owner: string,
  id: string,
  lock = false,
): Promise<SubscriptionRow | undefined> {
  const rows = await sql.query<SubscriptionRow>(
    `SELECT ${COLUMNS} FROM subscription WHERE id = $1 AND owner = $2${lock ? ' FOR NO KEY UPDATE' : ''}`,
    [id, owner],
  );
  return rows[0];
}

export function listOwned(sql: Sql, owner: string, status?: string[], ids?: string[]) {
  return sql.query<SubscriptionRow>(
    `SELECT ${COLUMNS} FROM subscription WHERE owner = $1
       AND ($2::text[] IS NULL OR status = ANY($2)) AND ($3::text[] IS NULL OR id = ANY($3))
     ORDER BY id LIMIT 1000`,
    [owner, status ?? null, ids ?? null],
  );
}

export interface NewVersion {
  id: string;
  version: number;
  owner: string;
  claims: GrantClaims;
  resource: Subscription;
  status: Status;
  criteriaType: string;
  channel: string;
  secret: string;
  /** Subscription.end as held: the client's, or the lifetime cap. */
  end: Date;
}

export async function insertSubscription(sql: Sql, row: NewVersion) {
  await sql.query(
    `INSERT INTO subscription
       (id, version_id, owner, grant_claims, resource, status, criteria_type, channel, secret,
        end_at)
     VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, $6, $7, $8, $9, $10)`,
    [
      row.id,
      row.version,
      row.owner,
      JSON.stringify(row.claims),
      JSON.stringify(row.resource),
      row.status,
      row.criteriaType,
      row.channel,
      row.secret,
      row.end,
    ],
  );
}

/**
 * A new version from its owner; a change back to `requested` clears the error. The grant is
 * the updating token's from now on (its policy already allowed the criteria), and the end is
 * counted again from this update.
 */
export async function updateSubscription(sql: Sql, row: Omit<NewVersion, 'secret'>) {
  await sql.query(
    `UPDATE subscription SET version_id = $2, resource = $3::jsonb, status = $4,
       criteria_type = $5, channel = $6, error = CASE WHEN $4 = 'error' THEN error END,
       grant_claims = $8::jsonb, end_at = $9
     WHERE id = $1 AND owner = $7`,
    [
      row.id,
      row.version,
      JSON.stringify(row.resource),
      row.status,
      row.criteriaType,
      row.channel,
      row.owner,
      JSON.stringify(row.claims),
      row.end,
    ],
  );
}

export async function deleteSubscription(sql: Sql, owner: string, id: string) {
  const rows = await sql.query(
    'DELETE FROM subscription WHERE id = $1 AND owner = $2 RETURNING id',
    [id, owner],
  );
  return rows.length > 0;
}

/** Queues the handshake (a rest-hook that starts `requested`). */
export async function queueHandshake(sql: Sql, subscription: string, id: string) {
  await sql.query(
    `INSERT INTO subscription_notification (id, subscription_id, kind) VALUES ($1, $2, 'handshake')`,
    [id, subscription],
  );
}

/** Drops what was queued and not delivered (a Subscription turned off, or requested again). */
export async function dropPending(sql: Sql, subscription: string) {
  await sql.query(
    'DELETE FROM subscription_notification WHERE subscription_id = $1 AND delivered_at IS NULL',
    [subscription],
  );
}
