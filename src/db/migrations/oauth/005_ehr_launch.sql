-- EHR launch contexts (POST /auth/launch): an opaque `launch` value (kept as its SHA-256) for one
-- client, naming the patient and maybe the encounter the app opens in. Spent by the first
-- authorization request that names it; five minutes to live.
CREATE TABLE oauth_launch (
  id_hash text PRIMARY KEY,
  client_id text NOT NULL REFERENCES oauth_client (client_id),
  patient text NOT NULL,
  encounter text,
  created_by text NOT NULL,
  expires_at timestamptz NOT NULL
);
CREATE INDEX oauth_launch_expiry ON oauth_launch (expires_at);

ALTER TABLE oauth_pending_authorization ADD COLUMN launch_patient text;
ALTER TABLE oauth_pending_authorization ADD COLUMN launch_encounter text;
ALTER TABLE oauth_grant ADD COLUMN encounter text;
