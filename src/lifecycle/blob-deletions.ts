/**
 * Deleting the bytes of erased Binaries. A blob store is not part of the database transaction,
 * so the keys are queued in it (`blob_deletion`, migration 007) and deleted once it has
 * committed: a rolled-back purge leaves every byte in place, and a delete that fails is kept
 * and retried by the next run rather than forgotten.
 */
import type { BlobStore } from '../blob/blob-store.js';
import type { Sql } from '../db/database.js';

/** In the erasing transaction: these keys' bytes are to go once it commits. */
export async function queueBlobDeletions(sql: Sql, keys: string[]): Promise<void> {
  if (!keys.length) return;
  await sql.query(
    'INSERT INTO blob_deletion (blob_key) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING',
    [keys],
  );
}

/** How many queued keys one drain takes on, oldest first. */
const DRAIN_BATCH = 1000;

/**
 * After the commit: deletes the queued bytes (`keys`, or the oldest queued ones), forgetting
 * each key once its delete succeeded. Returns the keys whose delete failed; they stay queued.
 * Deleting is idempotent, so two replicas draining the same key do no harm.
 */
export async function deleteQueuedBlobs(
  db: Sql,
  blobs: BlobStore,
  keys?: string[],
): Promise<string[]> {
  const queued = keys
    ? keys
    : (
        await db.query<{ blob_key: string }>(
          'SELECT blob_key FROM blob_deletion ORDER BY queued_at LIMIT $1',
          [DRAIN_BATCH],
        )
      ).map((row) => row.blob_key);
  const failed: string[] = [];
  for (const key of queued) {
    try {
      await blobs.delete(key);
      await db.query('DELETE FROM blob_deletion WHERE blob_key = $1', [key]);
    } catch (error) {
      failed.push(key);
      // The error's class and code only: a store's message could name more than the key.
      const why = (error as { code?: string; name?: string }).code ?? (error as Error).name;
      await db
        .query(
          'UPDATE blob_deletion SET attempts = attempts + 1, last_error = $2 WHERE blob_key = $1',
          [key, String(why ?? 'error').slice(0, 200)],
        )
        .catch(() => undefined);
    }
  }
  return failed;
}
