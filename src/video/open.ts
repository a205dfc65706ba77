import type { VideoConfig } from '../config.js';
import type { Database } from '../db/database.js';
import { createLocalVideoProvider } from './local.js';
import { postgresMeetingLedger } from './postgres-ledger.js';
import type { VideoProvider } from './video-provider.js';

/**
 * The configured VideoProvider. `local` keys its HMACs with a secret kept in the database, so
 * every replica derives the same meeting ids and join tokens without any shared memory.
 * The Chime SDK is loaded only when Chime is configured.
 */
export async function openVideo(
  config: VideoConfig,
  db: Database,
  secret: Buffer,
): Promise<VideoProvider> {
  if (config.provider === 'chime') {
    const { createChimeVideoProvider } = await import('./chime.js');
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
