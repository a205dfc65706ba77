-- AuditEvent as one row. Until now every AuditEvent was ~17 rows: its chain link in audit_log,
-- a served copy in resource_current, a history copy in resource_history and ~14 search-index
-- rows. audit_event holds all of it in one row: the chain link (lane, seq, prev_hash, hash), the
-- FHIR JSON as text (served as is) and one column per searched value, each with its own index.
-- It is partitioned by month of `recorded`, so the retention purge drops whole partitions
-- instead of deleting row by row (src/audit/purge.ts).
--
-- The rules of 003_audit.sql and 005_audit_lanes.sql hold here too, enforced by the database:
--   * append-only: UPDATE and TRUNCATE always fail, DELETE only under telefhir.audit_purge,
--     and then only rows up to their lane's anchor (the anchor's own row with the anchor's
--     hash). Row-level triggers on a partitioned table are cloned onto every partition, so a
--     statement aimed at one partition is held to the same rules; TRUNCATE triggers are
--     statement-level and are created on each partition by audit_event_partition().
--   * every insert extends its lane's head (the same audit_link() trigger as audit_log had).
--   * a purge leaves no row at or below an anchor (statement-level check on the parent); an
--     anchor only moves onto a row that exists with that hash (audit_anchor_guard).
-- DETACH/DROP of a partition needs the table's owner, as DISABLE TRIGGER does: production runs
-- the server as a role that doesn't own these tables, and audit:verify detects the gap.

CREATE SEQUENCE audit_event_seq;

CREATE TABLE audit_event (
  lane smallint NOT NULL CHECK (lane BETWEEN 0 AND 7),
  seq bigint NOT NULL DEFAULT nextval('audit_event_seq'),
  id text NOT NULL,
  recorded timestamptz NOT NULL,
  last_updated timestamptz NOT NULL,
  prev_hash text NOT NULL CHECK (prev_hash ~ '^[0-9a-f]{64}$'),
  hash text NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$'),
  -- What search matches (audit_event_index below derives them from the JSON, the same way on
  -- every write and in this migration). Tokens are kept as `code`, `system|code` (`|code`
  -- without a system) and `system|`; references as `Type/id` and the bare id.
  patient text[] NOT NULL,        -- ids of the Patients in agent.who and entity.what
  agent text[] NOT NULL,          -- agent.who references
  entity text[] NOT NULL,         -- entity.what references
  type text[] NOT NULL,
  subtype text[] NOT NULL,
  action text,
  outcome text,
  purpose_of_use text[] NOT NULL, -- purposeOfEvent and agent.purposeOfUse
  request_id text,                -- the X-Request-Id entity's identifier
  altid text[] NOT NULL,          -- agent.altId (the OAuth client)
  address text[] NOT NULL,        -- agent.network.address
  json text NOT NULL,
  PRIMARY KEY (id, recorded)
) PARTITION BY RANGE (recorded);

CREATE INDEX audit_event_lane_seq ON audit_event (lane, seq);
CREATE INDEX audit_event_recorded ON audit_event (recorded);
CREATE INDEX audit_event_last_updated ON audit_event (last_updated);
CREATE INDEX audit_event_patient ON audit_event USING gin (patient);
CREATE INDEX audit_event_agent ON audit_event USING gin (agent);
CREATE INDEX audit_event_entity ON audit_event USING gin (entity);
CREATE INDEX audit_event_type ON audit_event USING gin (type);
CREATE INDEX audit_event_subtype ON audit_event USING gin (subtype);
CREATE INDEX audit_event_purpose ON audit_event USING gin (purpose_of_use);
CREATE INDEX audit_event_action ON audit_event (action);
CREATE INDEX audit_event_outcome ON audit_event (outcome);
CREATE INDEX audit_event_request_id ON audit_event (request_id);
CREATE INDEX audit_event_altid ON audit_event USING gin (altid);
CREATE INDEX audit_event_address ON audit_event USING gin (address);

-- Events whose month has no partition (a clock far off) land here rather than fail.
CREATE TABLE audit_event_default PARTITION OF audit_event DEFAULT;

-- The functions below are plpgsql, not sql, on purpose: their plans are cached for the session,
-- where a sql function's body is planned again in every statement that calls it (every append),
-- and they take jsonb, parsed once, where every operator on json parses the text again.

-- The search keys of codings: see the column comment above.
CREATE FUNCTION audit_coding_keys(codings jsonb) RETURNS text[] LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  RETURN (SELECT coalesce(array_agg(DISTINCT k ORDER BY k), '{}')
    FROM jsonb_array_elements(CASE jsonb_typeof(codings) WHEN 'array' THEN codings ELSE '[]' END) c,
      LATERAL (VALUES (c->>'code'),
                      (coalesce(c->>'system', '') || '|' || (c->>'code')),
                      ((c->>'system') || '|')) v (k)
    WHERE k IS NOT NULL);
END $$;

-- The search keys of references (a jsonb array of Reference objects).
CREATE FUNCTION audit_reference_keys(refs jsonb) RETURNS text[] LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  RETURN (SELECT coalesce(array_agg(DISTINCT k ORDER BY k), '{}')
    FROM jsonb_array_elements(CASE jsonb_typeof(refs) WHEN 'array' THEN refs ELSE '[]' END) r,
      LATERAL (SELECT substring(r->>'reference' FROM '([A-Za-z]+/[A-Za-z0-9.-]+)$') AS ref) m,
      LATERAL (VALUES (m.ref), (split_part(m.ref, '/', 2))) v (k)
    WHERE k IS NOT NULL AND k <> '');
END $$;

-- Every searched column of one AuditEvent, from its JSON: the writer and this migration both
-- use it, and audit:verify recomputes it, so the columns can't drift from the chained content.
CREATE FUNCTION audit_event_index(
  content jsonb,
  OUT recorded timestamptz, OUT last_updated timestamptz, OUT patient text[], OUT agent text[],
  OUT entity text[], OUT type text[], OUT subtype text[], OUT action text, OUT outcome text,
  OUT purpose_of_use text[], OUT request_id text, OUT altid text[], OUT address text[]
) LANGUAGE plpgsql STABLE AS $$
DECLARE
  agents jsonb := coalesce(content->'agent', '[]');
  entities jsonb := coalesce(content->'entity', '[]');
  who jsonb := coalesce((SELECT jsonb_agg(a->'who') FROM jsonb_array_elements(agents) a), '[]');
  what jsonb := coalesce((SELECT jsonb_agg(e->'what') FROM jsonb_array_elements(entities) e), '[]');
BEGIN
  recorded := (content->>'recorded')::timestamptz;
  last_updated := coalesce(content->'meta'->>'lastUpdated', content->>'recorded')::timestamptz;
  agent := audit_reference_keys(who);
  entity := audit_reference_keys(what);
  patient := (SELECT coalesce(array_agg(DISTINCT split_part(k, '/', 2) ORDER BY split_part(k, '/', 2)), '{}')
              FROM unnest(agent || entity) k WHERE k LIKE 'Patient/%');
  type := audit_coding_keys(jsonb_build_array(content->'type'));
  subtype := audit_coding_keys(content->'subtype');
  action := content->>'action';
  outcome := content->>'outcome';
  purpose_of_use := audit_coding_keys(coalesce((
    SELECT jsonb_agg(c) FROM (
      SELECT c FROM jsonb_array_elements(coalesce(content->'purposeOfEvent', '[]')) p,
        jsonb_array_elements(coalesce(p->'coding', '[]')) c
      UNION ALL
      SELECT c FROM jsonb_array_elements(agents) a,
        jsonb_array_elements(coalesce(a->'purposeOfUse', '[]')) p,
        jsonb_array_elements(coalesce(p->'coding', '[]')) c) x (c)), '[]'));
  request_id := (SELECT e->'what'->'identifier'->>'value' FROM jsonb_array_elements(entities) e
                 WHERE e->'type'->>'code' = 'XrequestId' LIMIT 1);
  altid := ARRAY(SELECT DISTINCT a->>'altId' FROM jsonb_array_elements(agents) a
                 WHERE a->>'altId' IS NOT NULL ORDER BY 1);
  address := ARRAY(SELECT DISTINCT a->'network'->>'address' FROM jsonb_array_elements(agents) a
                   WHERE a->'network'->>'address' IS NOT NULL ORDER BY 1);
END $$;

-- The partition of the month `instant` falls in (UTC months), made if missing. Not when the default
-- partition already holds rows of that month: attaching would fail, and they stay findable there.
CREATE FUNCTION audit_event_partition(instant timestamptz) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  lo timestamp := date_trunc('month', instant AT TIME ZONE 'UTC');
  name text := 'audit_event_' || to_char(lo, 'YYYY_MM');
BEGIN
  PERFORM pg_advisory_xact_lock(4242008);
  IF to_regclass(quote_ident(name)) IS NOT NULL THEN
    RETURN;
  END IF;
  IF EXISTS (SELECT 1 FROM audit_event_default
             WHERE recorded >= lo AT TIME ZONE 'UTC'
               AND recorded < (lo + interval '1 month') AT TIME ZONE 'UTC') THEN
    RETURN;
  END IF;
  EXECUTE format('CREATE TABLE %I PARTITION OF audit_event FOR VALUES FROM (%L) TO (%L)',
    name, lo AT TIME ZONE 'UTC', (lo + interval '1 month') AT TIME ZONE 'UTC');
  EXECUTE format('CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON %I
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse()', name);
END $$;

-- This month and the next `ahead` ones: run at start-up and when a month turns.
CREATE FUNCTION audit_event_partitions_ahead(ahead integer) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  FOR i IN 0..ahead LOOP
    PERFORM audit_event_partition(now() + make_interval(months => i));
  END LOOP;
END $$;

CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event_default
  FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse();

-- Partitions for the months the moved events were recorded in, and for the next ones.
SELECT audit_event_partition(m)
FROM generate_series(
  date_trunc('month', coalesce((SELECT min(recorded) FROM audit_log), now())),
  now(), interval '1 month') AS m;
SELECT audit_event_partitions_ahead(2);

-- Move the chain: each link keeps its lane, seq, prev_hash and hash, so the heads and anchors
-- stay valid and audit:verify passes after this migration. The insert trigger is added after.
INSERT INTO audit_event (lane, seq, id, recorded, last_updated, prev_hash, hash, patient, agent,
  entity, type, subtype, action, outcome, purpose_of_use, request_id, altid, address, json)
SELECT a.lane, a.seq, a.id, a.recorded, x.last_updated, a.prev_hash, a.hash, x.patient, x.agent,
  x.entity, x.type, x.subtype, x.action, x.outcome, x.purpose_of_use, x.request_id, x.altid,
  x.address, a.content::text
FROM audit_log a CROSS JOIN LATERAL audit_event_index(a.content::jsonb) x
ORDER BY a.seq;
SELECT setval('audit_event_seq', greatest((SELECT max(seq) FROM audit_log), 1),
  (SELECT max(seq) FROM audit_log) IS NOT NULL);

-- The copies and index rows the generic tables held for AuditEvents go; their guards go with
-- them, and the generic tables refuse AuditEvents from now on.
DROP TRIGGER audit_current_no_update ON resource_current;
DROP TRIGGER audit_current_purge_only ON resource_current;
DROP TRIGGER audit_current_insert ON resource_current;
DROP TRIGGER audit_current_no_truncate ON resource_current;
DROP TRIGGER audit_history_no_update ON resource_history;
DROP TRIGGER audit_history_purge_only ON resource_history;
DROP TRIGGER audit_history_insert ON resource_history;
DROP TRIGGER audit_history_no_truncate ON resource_history;
DROP FUNCTION audit_resource_written_by_writer();
DROP FUNCTION audit_resource_no_truncate();
DELETE FROM resource_current WHERE resource_type = 'AuditEvent';
DELETE FROM resource_history WHERE resource_type = 'AuditEvent';
DELETE FROM idx_string WHERE resource_type = 'AuditEvent';
DELETE FROM idx_token WHERE resource_type = 'AuditEvent';
DELETE FROM idx_date WHERE resource_type = 'AuditEvent';
DELETE FROM idx_reference WHERE resource_type = 'AuditEvent';
DELETE FROM idx_number WHERE resource_type = 'AuditEvent';
DELETE FROM idx_uri WHERE resource_type = 'AuditEvent';
CREATE TRIGGER audit_current_refused BEFORE INSERT OR UPDATE ON resource_current
  FOR EACH ROW WHEN (NEW.resource_type = 'AuditEvent') EXECUTE FUNCTION audit_refuse();
CREATE TRIGGER audit_history_refused BEFORE INSERT OR UPDATE ON resource_history
  FOR EACH ROW WHEN (NEW.resource_type = 'AuditEvent') EXECUTE FUNCTION audit_refuse();

DROP TABLE audit_log;
DROP FUNCTION audit_check_prefix();

-- A row may go only under the purge flag, and only at or below its lane's anchor (the anchor's
-- row itself only with the anchor's hash): row-level, so it holds on every partition.
CREATE FUNCTION audit_event_delete_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  anchor audit_chain_anchor%ROWTYPE;
BEGIN
  IF NOT audit_purging() THEN
    RAISE EXCEPTION '% of % is not allowed: audit events are removed only by the retention purge',
      TG_OP, TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
  END IF;
  SELECT * INTO anchor FROM audit_chain_anchor WHERE lane = OLD.lane;
  IF NOT FOUND OR OLD.seq > anchor.seq OR (OLD.seq = anchor.seq AND OLD.hash <> anchor.hash) THEN
    RAISE EXCEPTION 'a purge must remove exactly the chain of lane % up to its anchor (seq %)',
      OLD.lane, anchor.seq USING ERRCODE = 'check_violation';
  END IF;
  RETURN OLD;
END $$;

-- After a purge's DELETE nothing at or below an anchor may remain: exactly a prefix went.
CREATE FUNCTION audit_event_check_prefix() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  left_lane smallint;
BEGIN
  SELECT e.lane INTO left_lane FROM audit_event e
    JOIN audit_chain_anchor an ON an.lane = e.lane AND e.seq <= an.seq LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'a purge must remove exactly the chain of lane % up to its anchor', left_lane
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER audit_event_link BEFORE INSERT ON audit_event
  FOR EACH ROW EXECUTE FUNCTION audit_link();
CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event
  FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse();
CREATE TRIGGER audit_event_no_update_row BEFORE UPDATE ON audit_event
  FOR EACH ROW EXECUTE FUNCTION audit_refuse();
CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event
  FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse();
CREATE TRIGGER audit_event_purge_only BEFORE DELETE ON audit_event
  FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_unless_purging();
CREATE TRIGGER audit_event_delete_row BEFORE DELETE ON audit_event
  FOR EACH ROW EXECUTE FUNCTION audit_event_delete_guard();
CREATE TRIGGER audit_event_prefix_only AFTER DELETE ON audit_event
  FOR EACH STATEMENT EXECUTE FUNCTION audit_event_check_prefix();

-- An anchor moves only forward, by the purge, onto a link that exists with that hash.
CREATE OR REPLACE FUNCTION audit_anchor_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT audit_purging() OR NEW.seq < OLD.seq OR NEW.lane <> OLD.lane
     OR (NEW.seq <> OLD.seq AND NOT EXISTS (SELECT 1 FROM audit_event
         WHERE lane = NEW.lane AND seq = NEW.seq AND hash = NEW.hash)) THEN
    RAISE EXCEPTION 'the audit chain anchor moves only forward, by the retention purge'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END $$;
