-- Audit chain lanes. With one chain head, every audited request in the deployment queued on one
-- row lock, held until its transaction's commit was flushed to disk: audited reads, on every
-- replica together, could never go faster than one commit at a time. The chain is now split
-- into AUDIT_LANES (8) independent hash chains ("lanes"), each with its own head and anchor.
-- A writer takes whichever lane is free (FOR UPDATE SKIP LOCKED), so up to eight appends
-- commit at once and share WAL flushes; each lane is still a strict chain, verified on its own,
-- and the rules of 003_audit.sql hold per lane: appends must extend their lane's head, a purge
-- removes exactly a prefix of each lane up to that lane's anchor.
--
-- Lane 0 is the chain as it was (existing rows and head stay valid); lanes 1..7 start at the
-- genesis hash.

ALTER TABLE audit_log ADD COLUMN lane smallint NOT NULL DEFAULT 0 CHECK (lane BETWEEN 0 AND 7);
ALTER TABLE audit_log ALTER COLUMN lane DROP DEFAULT;
CREATE INDEX audit_log_lane_seq ON audit_log (lane, seq);

-- The head and anchor tables become one row per lane. Their guard triggers refuse inserts, so
-- they are set aside while the lanes are added.
ALTER TABLE audit_chain_head DISABLE TRIGGER audit_chain_head_fixed;
ALTER TABLE audit_chain_anchor DISABLE TRIGGER audit_chain_anchor_fixed;

ALTER TABLE audit_chain_head DROP CONSTRAINT audit_chain_head_pkey;
ALTER TABLE audit_chain_head DROP COLUMN only_row;
ALTER TABLE audit_chain_head ADD COLUMN lane smallint NOT NULL DEFAULT 0 CHECK (lane BETWEEN 0 AND 7);
ALTER TABLE audit_chain_head ALTER COLUMN lane DROP DEFAULT;
ALTER TABLE audit_chain_head ADD PRIMARY KEY (lane);
INSERT INTO audit_chain_head (lane, seq, hash)
  SELECT lane, 0, repeat('0', 64) FROM generate_series(1, 7) AS lane;

ALTER TABLE audit_chain_anchor DROP CONSTRAINT audit_chain_anchor_pkey;
ALTER TABLE audit_chain_anchor DROP COLUMN only_row;
ALTER TABLE audit_chain_anchor ADD COLUMN lane smallint NOT NULL DEFAULT 0 CHECK (lane BETWEEN 0 AND 7);
ALTER TABLE audit_chain_anchor ALTER COLUMN lane DROP DEFAULT;
ALTER TABLE audit_chain_anchor ADD PRIMARY KEY (lane);
INSERT INTO audit_chain_anchor (lane, seq, hash)
  SELECT lane, 0, repeat('0', 64) FROM generate_series(1, 7) AS lane;

ALTER TABLE audit_chain_head ENABLE TRIGGER audit_chain_head_fixed;
ALTER TABLE audit_chain_anchor ENABLE TRIGGER audit_chain_anchor_fixed;

-- Every insert must extend its own lane's head.
CREATE OR REPLACE FUNCTION audit_link() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  head audit_chain_head%ROWTYPE;
BEGIN
  SELECT * INTO head FROM audit_chain_head WHERE lane = NEW.lane FOR UPDATE;
  IF NOT FOUND OR NEW.prev_hash <> head.hash OR NEW.seq <= head.seq THEN
    RAISE EXCEPTION 'audit event % does not extend the head of lane % (seq %)',
      NEW.id, NEW.lane, head.seq USING ERRCODE = 'check_violation';
  END IF;
  UPDATE audit_chain_head SET seq = NEW.seq, hash = NEW.hash WHERE lane = NEW.lane;
  RETURN NEW;
END $$;

-- A purge must remove, in each lane, the whole prefix up to that lane's anchor and nothing
-- after it, and the anchor must be the last row it removed from the lane.
CREATE OR REPLACE FUNCTION audit_check_prefix() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  anchor audit_chain_anchor%ROWTYPE;
BEGIN
  FOR anchor IN SELECT * FROM audit_chain_anchor LOOP
    IF EXISTS (SELECT 1 FROM gone WHERE lane = anchor.lane AND seq > anchor.seq)
       OR EXISTS (SELECT 1 FROM audit_log WHERE lane = anchor.lane AND seq <= anchor.seq)
       OR (EXISTS (SELECT 1 FROM gone WHERE lane = anchor.lane)
           AND NOT EXISTS (SELECT 1 FROM gone
                           WHERE lane = anchor.lane AND seq = anchor.seq
                             AND hash = anchor.hash)) THEN
      RAISE EXCEPTION 'a purge must remove exactly the chain of lane % up to its anchor (seq %)',
        anchor.lane, anchor.seq USING ERRCODE = 'check_violation';
    END IF;
  END LOOP;
  RETURN NULL;
END $$;

-- A lane's anchor moves only forward, only in the purge's transaction, and stays in its lane.
CREATE OR REPLACE FUNCTION audit_anchor_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT audit_purging() OR NEW.seq < OLD.seq OR NEW.lane <> OLD.lane THEN
    RAISE EXCEPTION 'the audit chain anchor moves only forward, by the retention purge'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END $$;
