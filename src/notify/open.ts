import type { FastifyBaseLogger } from 'fastify';
import type { NotifyConfig } from '../config.js';
import type { Database } from '../db/database.js';
import { localNotifier } from './local.js';
import type { Notifier } from './notifier.js';

/** The configured Notifier (NOTIFY_PROVIDER); the SNS client is loaded only when it is used. */
export async function openNotifier(
  config: NotifyConfig,
  db: Database,
  log?: Pick<FastifyBaseLogger, 'info'>,
): Promise<Notifier> {
  if (config.provider === 'sns') {
    const { snsNotifier } = await import('./sns.js');
    return snsNotifier({
      region: config.region,
      ...(config.topicArn ? { topicArn: config.topicArn } : {}),
    });
  }
  return localNotifier(db, log);
}
