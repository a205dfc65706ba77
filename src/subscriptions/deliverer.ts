/**
 * Delivers the notification outbox (subscription_notification), from any replica. A pass
 * claims Subscriptions whose oldest pending notification is due (FOR UPDATE SKIP LOCKED, then
 * a lease in the row, so no transaction stays open across an HTTP call), and sends each one's
 * notifications in order, stopping at the first failure: order per Subscription is kept, and a
 * replica that dies mid-delivery leaves a lease that runs out, after which another sends the
 * same notification again (at least once, with the same notification id).
 *
 * Each notification is read under its owner's grant as it stands at delivery: what the owner
 * can't read now is not sent (and counted as withheld). A failure is retried with backoff until
 * SUBSCRIPTION_RETRY_WINDOW_SECONDS after its first attempt; then the Subscription goes to
 * `error`, with the reason in Subscription.error.
 */
import type { Resource } from 'fhir/r4.js';
import type { FastifyBaseLogger } from 'fastify';
import type { PolicyOptions } from '../auth/policy.js';
import type { SubscriptionConfig } from '../config.js';
import type { Database, Sql } from '../db/database.js';
import { FhirError } from '../fhir/errors.js';
import type { FhirStore } from '../store/store.js';
import { notificationAuditEvent } from './notification-audit.js';
import { ownerPolicy, type GrantClaims } from './owner.js';
import { postHook, SIGNATURE_HEADER, signature } from './rest-hook.js';

/** Notifications of one Subscription sent per claim before others get their turn. */
const PER_CLAIM = 50;
/** Subscriptions delivered at once by one replica, each by its own worker. */
const CONCURRENCY = 8;
const MAX_BACKOFF_MS = 15 * 60_000;

interface Claimed {
  id: string;
  channel: 'rest-hook' | 'websocket';
  secret: string;
  grant_claims: GrantClaims;
}

interface Pending {
  seq: string;
  id: string;
  kind: 'handshake' | 'create' | 'update' | 'delete';
  resource_type: string | null;
  resource_id: string | null;
  version_id: string | null;
  first_attempt_at: Date | null;
  next_attempt_at: Date | null;
  attempts: number;
  status: string;
  endpoint: string | null;
  payload: string | null;
  headers: string[] | null;
}

/** What a websocket channel needs of the sockets this replica holds (websocket.ts). */
export interface SocketChannel {
  /** Subscriptions bound to a socket of this replica. */
  bound(): string[];
  /** Sends to the bound sockets; false when none is bound any more. */
  notify(subscription: string, notificationId: string, event: string): boolean;
}

export interface DelivererOptions {
  db: Database;
  store: FhirStore;
  config: SubscriptionConfig;
  policy: PolicyOptions;
  clock: () => Date;
  log: FastifyBaseLogger;
  /** Shows a resource as the owner may see it (SSNs masked or not, as REST does). */
  reveal?: (resource: Resource, claims: GrantClaims) => Resource;
  sockets?: SocketChannel;
  /** For the patients' references in a notification's AuditEvent. */
  baseUrl?: string;
  /**
   * Why the owner's grant no longer stands (its client or user disabled at the built-in
   * authorization server), or undefined while it does: then the Subscription goes `off`.
   */
  grantWithdrawn?: (claims: GrantClaims) => Promise<string | undefined>;
}

interface Tally {
  delivered: number;
  retried: number;
  failed: number;
  withheld: number;
}

/**
 * The Subscription row before its notifications, in every transaction that changes both (as
 * the routes do), so two of them never wait on each other in opposite orders.
 */
const lockSubscription = (sql: Sql, id: string) =>
  sql.query('SELECT 1 FROM subscription WHERE id = $1 FOR NO KEY UPDATE', [id]);

type Outcome =
  { ok: true; withheld?: boolean; resource?: Resource } | { ok: false; reason: string };

export class SubscriptionDeliverer {
  private running: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly aborts = new AbortController();
  private closed = false;
  /** Workers delivering one claimed Subscription each, by Subscription id. */
  private readonly workers = new Map<string, Promise<void>>();

  constructor(private readonly options: DelivererOptions) {}

  start() {
    this.timer = setInterval(() => this.wake(), this.options.config.pollMs);
    this.timer.unref();
  }

  /** Runs a pass now (or right after the one running). */
  wake(): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.again = false;
          await this.pass();
        } while (this.again && !this.closed);
      } catch (error) {
        if (!this.closed)
          // The error's name and code only: a driver error can carry statement parameters.
          this.options.log.error(
            {
              error: error instanceof Error ? error.name : typeof error,
              code: (error as { code?: unknown } | undefined)?.code,
            },
            'subscription delivery pass failed',
          );
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  /** Stops: a delivery in flight is cut off and not recorded (it will be sent again). */
  async close() {
    this.closed = true;
    clearInterval(this.timer);
    this.aborts.abort();
    await this.running;
    await Promise.allSettled([...this.workers.values()]);
  }

  private leaseEnd(): Date {
    return new Date(this.options.clock().getTime() + this.options.config.timeoutMs * 2 + 5000);
  }

  /**
   * One pass: claims due Subscriptions, as many as there are free workers, and starts a worker
   * for each. It doesn't wait for them: a slow receiver holds only its own worker, and its
   * lease keeps every other pass (of any replica) from taking its Subscription meanwhile.
   */
  async pass(): Promise<void> {
    const { db, clock } = this.options;
    const bound = this.options.sockets?.bound() ?? [];
    await this.expire();
    const free = CONCURRENCY - this.workers.size;
    if (free <= 0 || this.closed) return;
    const claimed = await db.transaction((sql) =>
      sql.query<Claimed>(
        `UPDATE subscription s SET lease_until = $2 WHERE s.id IN (
           SELECT c.id FROM subscription c
           WHERE c.status IN ('requested', 'active') AND c.end_at > $1
             AND (c.lease_until IS NULL OR c.lease_until < $1)
             AND (c.channel = 'rest-hook' OR c.id = ANY($3::text[]))
             AND NOT (c.id = ANY($4::text[]))
             AND (SELECT coalesce(n.next_attempt_at, '-infinity') FROM subscription_notification n
                  WHERE n.subscription_id = c.id AND n.delivered_at IS NULL
                  ORDER BY n.seq LIMIT 1) <= $1
           ORDER BY c.lease_until NULLS FIRST LIMIT ${free}
           FOR UPDATE SKIP LOCKED)
         RETURNING s.id, s.channel, s.secret, s.grant_claims`,
        [clock(), this.leaseEnd(), bound, [...this.workers.keys()]],
      ),
    );
    for (const subscription of claimed) {
      const worker = this.work(subscription).finally(() => {
        this.workers.delete(subscription.id);
        // What it left (its share of this turn ran out) waits for no timer.
        void this.wake();
      });
      this.workers.set(subscription.id, worker);
    }
  }

  /** One claimed Subscription's turn: its notifications in order, until its share runs out. */
  private async work(subscription: Claimed) {
    const { db } = this.options;
    const tally: Tally = { delivered: 0, retried: 0, failed: 0, withheld: 0 };
    try {
      await this.deliverAll(subscription, tally);
    } catch (error) {
      if (!this.closed)
        this.options.log.error(
          {
            subscription: subscription.id,
            error: error instanceof Error ? error.name : typeof error,
            code: (error as { code?: unknown } | undefined)?.code,
          },
          'subscription delivery failed',
        );
    } finally {
      if (!this.closed) {
        await db
          .query('UPDATE subscription SET lease_until = NULL WHERE id = $1', [subscription.id])
          .catch(() => undefined); // the lease runs out by itself
      }
      if (tally.delivered || tally.retried || tally.failed || tally.withheld) {
        // Counts and ids only: never a resource, an endpoint's answer body or a search value.
        this.options.log.info(
          { subscription: subscription.id, channel: subscription.channel, ...tally },
          'subscription delivery',
        );
      }
    }
  }

  /**
   * A Subscription whose owner's grant was withdrawn (client or user disabled) goes `off`, with
   * the reason in Subscription.error, and loses what was queued: nothing more is sent under it.
   */
  private async withdrawn(subscription: Claimed): Promise<boolean> {
    const reason = await this.options.grantWithdrawn?.(subscription.grant_claims);
    if (!reason) return false;
    await this.options.db.transaction(async (sql) => {
      await lockSubscription(sql, subscription.id);
      await sql.query(`UPDATE subscription SET status = 'off', error = $2 WHERE id = $1`, [
        subscription.id,
        `Turned off: ${reason}`,
      ]);
      await sql.query(
        `DELETE FROM subscription_notification WHERE subscription_id = $1 AND delivered_at IS NULL`,
        [subscription.id],
      );
    });
    this.options.log.warn(
      { subscription: subscription.id },
      "subscription turned off: its owner's grant was withdrawn",
    );
    return true;
  }

  /**
   * Subscriptions past their end go `off` and lose what was queued: a grant kept with a
   * Subscription lasts no longer than it.
   */
  private async expire() {
    const { db, clock } = this.options;
    await db.transaction(async (sql) => {
      const ended = await sql.query<{ id: string }>(
        `UPDATE subscription SET status = 'off' WHERE id IN (
           SELECT id FROM subscription WHERE status IN ('requested', 'active') AND end_at <= $1
           ORDER BY id FOR NO KEY UPDATE SKIP LOCKED)
         RETURNING id`,
        [clock()],
      );
      if (ended.length) {
        await sql.query(
          `DELETE FROM subscription_notification
           WHERE subscription_id = ANY($1::text[]) AND delivered_at IS NULL`,
          [ended.map((row) => row.id)],
        );
      }
    });
  }

  private async deliverAll(subscription: Claimed, tally: Tally) {
    const { db, clock, config } = this.options;
    // A turn takes no new notification after this (the rest wait for the next turn, in order).
    const deadline = Date.now() + Math.max(config.timeoutMs, 1000);
    for (let sent = 0; sent < PER_CLAIM && !this.closed && Date.now() < deadline; sent++) {
      const [head] = await db.query<Pending>(
        `SELECT n.seq::text AS seq, n.id::text AS id, n.kind, n.resource_type, n.resource_id,
           n.version_id, n.first_attempt_at, n.next_attempt_at, n.attempts,
           CASE WHEN s.end_at > $2 THEN s.status ELSE 'off' END AS status,
           s.resource->'channel'->>'endpoint' AS endpoint,
           s.resource->'channel'->>'payload' AS payload,
           ARRAY(SELECT jsonb_array_elements_text(coalesce(s.resource->'channel'->'header', '[]'))) AS headers
         FROM subscription_notification n JOIN subscription s ON s.id = n.subscription_id
         WHERE n.subscription_id = $1 AND n.delivered_at IS NULL ORDER BY n.seq LIMIT 1`,
        [subscription.id, clock()],
      );
      if (!head || (head.status !== 'requested' && head.status !== 'active')) return;
      const now = clock();
      if (head.next_attempt_at && head.next_attempt_at > now) return;
      // Before each send, not once a turn: a notification queued after the client or user was
      // disabled must not go out under a check made before (the turn would then find nothing
      // left, and no later turn would look again).
      if (await this.withdrawn(subscription)) return;
      await db.query('UPDATE subscription SET lease_until = $2 WHERE id = $1', [
        subscription.id,
        this.leaseEnd(),
      ]);
      const outcome = await this.attempt(subscription, head);
      if (this.closed) return; // cut off by shutdown: not recorded, sent again later
      if (outcome.ok) {
        await db.transaction(async (sql) => {
          await lockSubscription(sql, subscription.id);
          // Sent (or withheld) and recorded at once: the row goes, so the outbox holds only
          // what is still owed. Cut off before this, it is sent again (at least once).
          await sql.query('DELETE FROM subscription_notification WHERE seq = $1', [head.seq]);
          if (head.kind === 'handshake') {
            await sql.query(
              `UPDATE subscription SET status = 'active' WHERE id = $1 AND status = 'requested'`,
              [subscription.id],
            );
          }
        });
        if (outcome.withheld) tally.withheld++;
        else {
          tally.delivered++;
          if (head.kind !== 'handshake') await this.audit(subscription, head, outcome.resource);
        }
        continue;
      }
      await this.failed(subscription.id, head, outcome.reason, tally);
      return;
    }
  }

  /** The delivered notification's AuditEvent (notification-audit.ts); a failure is logged. */
  private async audit(subscription: Claimed, head: Pending, resource: Resource | undefined) {
    try {
      await this.options.store.audit(
        notificationAuditEvent({
          subscription: subscription.id,
          claims: subscription.grant_claims,
          notification: head.id,
          sent: `${head.resource_type}/${head.resource_id}`,
          version: head.version_id,
          resource,
          baseUrl: this.options.baseUrl,
        }),
      );
    } catch (error) {
      this.options.log.error(
        { subscription: subscription.id, error: error instanceof Error ? error.name : 'error' },
        'could not record the AuditEvent of a delivered notification',
      );
    }
  }

  private async failed(subscription: string, head: Pending, reason: string, tally: Tally) {
    const { db, clock, config } = this.options;
    const now = clock();
    const first = head.first_attempt_at ?? now;
    const attempts = head.attempts + 1;
    if (now.getTime() - first.getTime() >= config.retryWindowMs) {
      tally.failed++;
      await db.transaction(async (sql: Sql) => {
        await lockSubscription(sql, subscription);
        await sql.query(
          `UPDATE subscription_notification SET attempts = $2, last_error = $3,
             first_attempt_at = coalesce(first_attempt_at, $4) WHERE seq = $1`,
          [head.seq, attempts, reason, now],
        );
        await sql.query(
          `UPDATE subscription SET status = 'error', error = $2 WHERE id = $1
             AND status IN ('requested', 'active')`,
          [
            subscription,
            `Delivery failed for ${Math.round(config.retryWindowMs / 1000)} s (${attempts} attempts); last: ${reason}`,
          ],
        );
      });
      this.options.log.warn(
        { subscription, attempts },
        'subscription delivery gave up: status error',
      );
      return;
    }
    tally.retried++;
    const backoff = Math.min(1000 * 2 ** Math.min(attempts - 1, 20), MAX_BACKOFF_MS);
    await db.query(
      `UPDATE subscription_notification SET attempts = $2, last_error = $3,
         first_attempt_at = coalesce(first_attempt_at, $4), next_attempt_at = $5 WHERE seq = $1`,
      [head.seq, attempts, reason, now, new Date(now.getTime() + backoff)],
    );
  }

  /** The notification's body: the version written, read under the owner's grant now. */
  private async payload(subscription: Claimed, head: Pending): Promise<Resource | 'withheld'> {
    const policy = ownerPolicy(subscription.grant_claims, this.options.policy);
    try {
      const resource = await this.options.store.vread(
        head.resource_type!,
        head.resource_id!,
        head.version_id!,
        { requestId: `notification-${head.id}`, access: policy },
      );
      return this.options.reveal?.(resource, subscription.grant_claims) ?? resource;
    } catch (error) {
      if (error instanceof FhirError && error.statusCode < 500) return 'withheld';
      throw error;
    }
  }

  private async attempt(subscription: Claimed, head: Pending): Promise<Outcome> {
    let body = Buffer.alloc(0);
    let resource: Resource | undefined;
    if (head.kind === 'create' || head.kind === 'update') {
      const read = await this.payload(subscription, head);
      if (read === 'withheld') return { ok: true, withheld: true };
      resource = read;
      if (head.payload) body = Buffer.from(JSON.stringify(resource));
    }
    if (subscription.channel === 'websocket') {
      const sent = this.options.sockets?.notify(subscription.id, head.id, head.kind) ?? false;
      return sent ? { ok: true, resource } : { ok: false, reason: 'no websocket bound' };
    }
    const headers: Record<string, string> = {};
    for (const header of head.headers ?? []) {
      const at = header.indexOf(':');
      headers[header.slice(0, at).trim().toLowerCase()] = header.slice(at + 1).trim();
    }
    Object.assign(headers, {
      'x-notification-id': head.id,
      'x-subscription-id': subscription.id,
      'x-notification-event': head.kind,
      [SIGNATURE_HEADER]: signature(subscription.secret, body),
    });
    if (head.resource_type) {
      headers['x-notification-resource'] =
        `${head.resource_type}/${head.resource_id}` +
        (head.version_id ? `/_history/${head.version_id}` : '');
    }
    if (body.length) headers['content-type'] = 'application/fhir+json';
    try {
      const status = await postHook({
        endpoint: head.endpoint ?? '',
        body,
        headers,
        timeoutMs: this.options.config.timeoutMs,
        rules: this.options.config,
        signal: this.aborts.signal,
      });
      return status >= 200 && status < 300
        ? { ok: true, resource }
        : { ok: false, reason: `HTTP ${status}` };
    } catch (error) {
      const code = (error as { code?: string }).code;
      const reason =
        error instanceof FhirError
          ? error.message
          : code && /^[A-Z_]+$/.test(code)
            ? code
            : error instanceof Error && error.message === 'timed out'
              ? 'timed out'
              : 'network error';
      return { ok: false, reason };
    }
  }
}
