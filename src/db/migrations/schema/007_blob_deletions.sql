-- Bytes to delete from the blob store (src/lifecycle/blob-deletions.ts). The retention purge and
-- $expunge queue a purged Binary's blob keys in their own transaction, and delete the bytes only
-- after it commits: a blob is never gone while a committed resource still names it, and a key
-- is never forgotten when its delete fails (it stays here, retried by the next purge or expunge).
CREATE TABLE IF NOT EXISTS blob_deletion (
  blob_key text PRIMARY KEY,
  queued_at timestamptz NOT NULL DEFAULT now(),
  attempts integer NOT NULL DEFAULT 0,
  last_error text
);
