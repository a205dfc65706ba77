-- Bulk Data $export jobs (src/export/). A job is worked by whichever replica claims it first
-- (FOR UPDATE SKIP LOCKED, then a lease it renews while it works); a replica that dies leaves
-- its lease to run out, and the next one resumes from `position`, which only ever moves
-- forward in the same transaction that records a finished output file. So no file is listed
-- twice and nothing is skipped.
CREATE TABLE export_job (
  id uuid PRIMARY KEY,
  -- Who started it: only that client and subject see it.
  client_id text NOT NULL,
  subject text NOT NULL,
  -- The grant facts the policy is rebuilt from when the worker runs and at each download
  -- (scope, roles, fhirUser, patient claims); never the token itself.
  grant_facts jsonb NOT NULL,
  level text NOT NULL CHECK (level IN ('system', 'patient', 'group')),
  group_id text,
  -- Patient level with a `patient` parameter, or a Group's members: who the export is about.
  patients text[],
  -- The types to write, in order; each type's _typeFilter (at most one) as a query string.
  types text[] NOT NULL,
  type_filters jsonb NOT NULL DEFAULT '{}',
  since timestamptz,
  request_url text NOT NULL,
  -- A de-identified export's method ('safe-harbor'); its pseudonym key is derived from a
  -- shared secret and the job id (src/export/deidentify.ts), so nothing secret is stored here.
  deidentify text,
  state text NOT NULL CHECK (state IN ('queued', 'running', 'completed', 'failed', 'cancelled')),
  transaction_time timestamptz NOT NULL DEFAULT now(),
  -- Where the worker resumes: the type index, member index and keyset position after the last
  -- resource of the last recorded file.
  position jsonb NOT NULL DEFAULT '{}',
  files_done integer NOT NULL DEFAULT 0,
  resources_done bigint NOT NULL DEFAULT 0,
  worker text,
  lease_until timestamptz,
  attempts integer NOT NULL DEFAULT 0,
  -- The blob a worker is writing right now: a worker that resumes after a crash deletes it.
  pending_blob text,
  failure text,
  created_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz,
  expires_at timestamptz NOT NULL
);
CREATE INDEX export_job_pending ON export_job (created_at) WHERE state IN ('queued', 'running');
CREATE INDEX export_job_expiry ON export_job (expires_at);

CREATE TABLE export_file (
  job_id uuid NOT NULL REFERENCES export_job (id) ON DELETE CASCADE,
  seq integer NOT NULL,
  kind text NOT NULL CHECK (kind IN ('output', 'error')),
  resource_type text NOT NULL,
  blob_key text NOT NULL,
  count integer NOT NULL,
  PRIMARY KEY (job_id, seq)
);

-- Blobs of expired or cancelled jobs still to delete (deleted after the rows are gone, so a
-- download can never find a row whose bytes are half deleted).
CREATE TABLE export_blob_deletion (
  blob_key text PRIMARY KEY,
  queued_at timestamptz NOT NULL DEFAULT now()
);
