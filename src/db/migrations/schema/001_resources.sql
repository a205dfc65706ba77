-- The current version of every resource: what read (and, later, search) looks at.
-- content is json, not jsonb: it keeps the text as written (key order included) so it can be
-- served as is; search reads index tables, never content.
CREATE TABLE resource_current (
  resource_type text NOT NULL,
  id text NOT NULL,
  version_id integer NOT NULL CHECK (version_id > 0),
  last_updated timestamptz NOT NULL,
  deleted boolean NOT NULL,
  content json,
  PRIMARY KEY (resource_type, id)
);

-- Every version ever written, deletions included. seq orders history across resources and is
-- the keyset for paging it.
CREATE TABLE resource_history (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  resource_type text NOT NULL,
  id text NOT NULL,
  version_id integer NOT NULL,
  last_updated timestamptz NOT NULL,
  method text NOT NULL CHECK (method IN ('POST', 'PUT', 'DELETE')),
  content json,
  UNIQUE (resource_type, id, version_id)
);
CREATE INDEX resource_history_type_seq ON resource_history (resource_type, seq);
CREATE INDEX resource_history_last_updated ON resource_history (last_updated);

-- Server-wide secrets (the paging-cursor signing key), shared by every replica.
CREATE TABLE server_secret (
  name text PRIMARY KEY,
  value text NOT NULL
);
