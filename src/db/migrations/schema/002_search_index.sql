-- Search-parameter index tables: values extracted from each resource's current version at
-- write time (src/search/extract.ts), so search is SQL on indexed columns, never a scan of
-- resource content. Rows are keyed by (resource_type, id) and replaced on every write.

CREATE TABLE idx_string (
  resource_type text NOT NULL,
  id text NOT NULL,
  code text NOT NULL,
  value text NOT NULL,  -- lowercased, accents stripped: prefix and :contains search
  exact text NOT NULL   -- as written: :exact
);
CREATE INDEX idx_string_value ON idx_string (resource_type, code, value text_pattern_ops);
CREATE INDEX idx_string_resource ON idx_string (resource_type, id);

CREATE TABLE idx_token (
  resource_type text NOT NULL,
  id text NOT NULL,
  code text NOT NULL,
  system text,
  value text,
  text text             -- normalised display/text: :text
);
CREATE INDEX idx_token_value ON idx_token (resource_type, code, value, system);
CREATE INDEX idx_token_resource ON idx_token (resource_type, id);

CREATE TABLE idx_date (
  resource_type text NOT NULL,
  id text NOT NULL,
  code text NOT NULL,
  start_at timestamptz NOT NULL,  -- the value's range at its precision, inclusive
  end_at timestamptz NOT NULL
);
CREATE INDEX idx_date_range ON idx_date (resource_type, code, start_at, end_at);
CREATE INDEX idx_date_resource ON idx_date (resource_type, id);

CREATE TABLE idx_reference (
  resource_type text NOT NULL,
  id text NOT NULL,
  code text NOT NULL,
  target_type text,
  target_id text,
  url text NOT NULL
);
CREATE INDEX idx_reference_target ON idx_reference (resource_type, code, target_id, target_type);
CREATE INDEX idx_reference_reverse ON idx_reference (target_type, target_id);
CREATE INDEX idx_reference_resource ON idx_reference (resource_type, id);

CREATE TABLE idx_number (
  resource_type text NOT NULL,
  id text NOT NULL,
  code text NOT NULL,
  value numeric NOT NULL,
  system text,
  unit text
);
CREATE INDEX idx_number_value ON idx_number (resource_type, code, value);
CREATE INDEX idx_number_resource ON idx_number (resource_type, id);

CREATE TABLE idx_uri (
  resource_type text NOT NULL,
  id text NOT NULL,
  code text NOT NULL,
  value text NOT NULL
);
CREATE INDEX idx_uri_value ON idx_uri (resource_type, code, value text_pattern_ops);
CREATE INDEX idx_uri_resource ON idx_uri (resource_type, id);

-- Current rows by type and id: the default search order and keyset.
CREATE INDEX resource_current_live ON resource_current (resource_type, id) WHERE NOT deleted;
CREATE INDEX resource_current_updated ON resource_current (resource_type, last_updated);
