-- The audit trail (src/audit/): every AuditEvent the server writes is a link in a hash chain
-- here, and also an ordinary resource in resource_current/resource_history (so search works on
-- it). The chain's rules are enforced by the database, not only by the writer:
--
--   * audit_log is append-only. UPDATE and TRUNCATE always fail. DELETE fails unless the
--     transaction-local setting telefhir.audit_purge is 'on' — the purge path's escape hatch
--     (src/audit/purge.ts runs `SET LOCAL telefhir.audit_purge = 'on'` in its own transaction,
--     so it ends with that transaction). Even then a DELETE must remove exactly the prefix of
--     the chain up to audit_chain_anchor, which the purge moves first, so verify still works.
--     Nothing on the REST path sets the flag, and REST has no way to run SQL of its own.
--   * Every insert must extend audit_chain_head: prev_hash equal to the head's hash and a seq
--     above the head's. The insert trigger then moves the head. The writer locks the head row
--     (SELECT ... FOR UPDATE) before it hashes, so concurrent appends queue on that lock and
--     the chain can't fork; the trigger's check catches a writer that forgot to.
--   * AuditEvent rows in resource_current/resource_history are never updated, deleted only
--     under the purge flag, and inserted only alongside their audit_log row.
--
-- This guards against application bugs and against any role that doesn't own these tables. The
-- owner (or a superuser) can still disable triggers; the hash chain is what detects that
-- (npm run audit:verify), so production should run the server as a role that doesn't own them.

CREATE TABLE audit_log (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id text NOT NULL UNIQUE,
  recorded timestamptz NOT NULL,
  prev_hash text NOT NULL CHECK (prev_hash ~ '^[0-9a-f]{64}$'),
  hash text NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$'),
  content json NOT NULL
);
-- The purge finds the first row it must keep by time.
CREATE INDEX audit_log_recorded ON audit_log (recorded);

-- The last link of the chain, one row. The genesis hash (64 zeros) is GENESIS_HASH in
-- src/audit/chain.ts; both must agree.
CREATE TABLE audit_chain_head (
  only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
  seq bigint NOT NULL,
  hash text NOT NULL
);
INSERT INTO audit_chain_head (seq, hash) VALUES (0, repeat('0', 64));

-- Where the surviving chain starts: the seq and hash of the last purged row (genesis until
-- the first purge). Verify checks the first remaining row's prev_hash against it.
CREATE TABLE audit_chain_anchor (
  only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
  seq bigint NOT NULL,
  hash text NOT NULL,
  purged_at timestamptz
);
INSERT INTO audit_chain_anchor (seq, hash) VALUES (0, repeat('0', 64));

CREATE FUNCTION audit_purging() RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT coalesce(current_setting('telefhir.audit_purge', true), '') = 'on'
$$;

CREATE FUNCTION audit_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% of % is not allowed: the audit trail is append-only', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE FUNCTION audit_refuse_unless_purging() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF audit_purging() THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION '% of % is not allowed: audit events are removed only by the retention purge',
    TG_OP, TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE FUNCTION audit_link() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  head audit_chain_head%ROWTYPE;
BEGIN
  SELECT * INTO head FROM audit_chain_head FOR UPDATE;
  IF NEW.prev_hash <> head.hash OR NEW.seq <= head.seq THEN
    RAISE EXCEPTION 'audit event % does not extend the chain head (seq %)', NEW.id, head.seq
      USING ERRCODE = 'check_violation';
  END IF;
  UPDATE audit_chain_head SET seq = NEW.seq, hash = NEW.hash;
  RETURN NEW;
END $$;

-- A purge must remove the whole prefix up to the anchor and nothing after it, and the anchor
-- must be the last row it removed.
CREATE FUNCTION audit_check_prefix() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  anchor audit_chain_anchor%ROWTYPE;
BEGIN
  SELECT * INTO anchor FROM audit_chain_anchor;
  IF EXISTS (SELECT 1 FROM gone WHERE seq > anchor.seq)
     OR EXISTS (SELECT 1 FROM audit_log WHERE seq <= anchor.seq)
     OR (EXISTS (SELECT 1 FROM gone)
         AND NOT EXISTS (SELECT 1 FROM gone WHERE seq = anchor.seq AND hash = anchor.hash)) THEN
    RAISE EXCEPTION 'a purge must remove exactly the chain up to its anchor (seq %)', anchor.seq
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER audit_log_link BEFORE INSERT ON audit_log
  FOR EACH ROW EXECUTE FUNCTION audit_link();
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse();
CREATE TRIGGER audit_log_purge_only BEFORE DELETE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_unless_purging();
CREATE TRIGGER audit_log_prefix_only AFTER DELETE ON audit_log
  REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION audit_check_prefix();

-- The head moves only from inside audit_link (trigger depth 2), never by a statement of its own.
CREATE FUNCTION audit_head_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF pg_trigger_depth() < 2 THEN
    RAISE EXCEPTION 'the audit chain head moves only when an audit event is appended'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER audit_chain_head_guard BEFORE UPDATE ON audit_chain_head
  FOR EACH ROW EXECUTE FUNCTION audit_head_guard();
CREATE TRIGGER audit_chain_head_fixed BEFORE INSERT OR DELETE OR TRUNCATE ON audit_chain_head
  FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse();

-- The anchor moves only forward, and only in the purge's transaction.
CREATE FUNCTION audit_anchor_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT audit_purging() OR NEW.seq < OLD.seq THEN
    RAISE EXCEPTION 'the audit chain anchor moves only forward, by the retention purge'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER audit_chain_anchor_guard BEFORE UPDATE ON audit_chain_anchor
  FOR EACH ROW EXECUTE FUNCTION audit_anchor_guard();
CREATE TRIGGER audit_chain_anchor_fixed BEFORE INSERT OR DELETE OR TRUNCATE ON audit_chain_anchor
  FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse();

-- AuditEvent copies in the resource tables: the served (and searched) form of each link. An
-- insert is allowed only as version 1 of an event already in audit_log — AFTER the statement,
-- so the writer's single statement (a CTE inserting into all three tables) sees its own row.
CREATE FUNCTION audit_resource_written_by_writer() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.version_id <> 1 OR NOT EXISTS (SELECT 1 FROM audit_log WHERE id = NEW.id) THEN
    RAISE EXCEPTION 'AuditEvent/% can only be written by the audit writer', NEW.id
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NULL;
END $$;

CREATE FUNCTION audit_resource_no_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM resource_current WHERE resource_type = 'AuditEvent')
     OR EXISTS (SELECT 1 FROM resource_history WHERE resource_type = 'AuditEvent') THEN
    RAISE EXCEPTION 'TRUNCATE of % would remove audit events', TG_TABLE_NAME
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER audit_current_no_update BEFORE UPDATE ON resource_current
  FOR EACH ROW WHEN (OLD.resource_type = 'AuditEvent' OR NEW.resource_type = 'AuditEvent')
  EXECUTE FUNCTION audit_refuse();
CREATE TRIGGER audit_current_purge_only BEFORE DELETE ON resource_current
  FOR EACH ROW WHEN (OLD.resource_type = 'AuditEvent')
  EXECUTE FUNCTION audit_refuse_unless_purging();
CREATE TRIGGER audit_current_insert AFTER INSERT ON resource_current
  FOR EACH ROW WHEN (NEW.resource_type = 'AuditEvent')
  EXECUTE FUNCTION audit_resource_written_by_writer();
CREATE TRIGGER audit_current_no_truncate BEFORE TRUNCATE ON resource_current
  FOR EACH STATEMENT EXECUTE FUNCTION audit_resource_no_truncate();

CREATE TRIGGER audit_history_no_update BEFORE UPDATE ON resource_history
  FOR EACH ROW WHEN (OLD.resource_type = 'AuditEvent' OR NEW.resource_type = 'AuditEvent')
  EXECUTE FUNCTION audit_refuse();
CREATE TRIGGER audit_history_purge_only BEFORE DELETE ON resource_history
  FOR EACH ROW WHEN (OLD.resource_type = 'AuditEvent')
  EXECUTE FUNCTION audit_refuse_unless_purging();
CREATE TRIGGER audit_history_insert AFTER INSERT ON resource_history
  FOR EACH ROW WHEN (NEW.resource_type = 'AuditEvent')
  EXECUTE FUNCTION audit_resource_written_by_writer();
CREATE TRIGGER audit_history_no_truncate BEFORE TRUNCATE ON resource_history
  FOR EACH STATEMENT EXECUTE FUNCTION audit_resource_no_truncate();
