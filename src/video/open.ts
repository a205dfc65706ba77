import type { VideoConfig } from '../config.js';
import type { Database } from '../store/postgres/database.js';
import { createChimeVideoProvider } from './chime.js';
import { createLocalVideoProvider } from './local.js';
import { postgresMeetingLedger } from './postgres-ledger.js';
import type { VideoProvider } from './video-provider.js';

/**
 * The configured VideoProvider. `local` keys its HMACs with a secret kept in the database, so
 * every replica derives the same meeting ids and join tokens without any shared memory.
 */
export function openVideo(config: VideoConfig, db: Database, secret: Buffer): VideoProvider {
  if (config.provider === 'chime') {
    return createChimeVideoProvider({
      region: config.region,
      ...(config.endpoint ? { endpoint: config.endpoint } : {}),
    });
  }
  return createLocalVideoProvider({
    secret: secret.toString('base64'),
    ledger: postgresMeetingLedger(db),
  });
}
