import type { FastifyBaseLogger } from 'fastify';
import type { Database } from '../db/database.js';
import type { Channel, Notification, Notifier } from './notifier.js';

/**
 * NOTIFY_PROVIDER=local: nothing leaves the machine. Each message is recorded in
 * `local_notification` (keyed on its idempotency key, so a resend is not a second row) and a
 * log line names it — without address or text, which stay in the database.
 */
export function localNotifier(db: Database, log?: Pick<FastifyBaseLogger, 'info'>): Notifier {
  return {
    provider: 'local',
    channels: new Set<Channel>(['sms', 'email']),
    async send(n: Notification) {
      await db.query(
        `INSERT INTO local_notification (key, channel, address, recipient, body)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (key) DO NOTHING`,
        [n.key, n.channel, n.address, n.recipient, n.text],
      );
      log?.info({ notification: n.key, channel: n.channel }, 'notification recorded (local)');
      return `local-${n.key}`;
    },
    async close() {},
  };
}
