-- When the clinical store is not this database (HealthLake), an operation's FHIR writes can't
-- share its transaction. They are written here instead, in that transaction, and delivered to
-- the store afterwards, in order, until the store has them: never lost (the row commits with
-- the workflow state) and never duplicated (every write names its resource id, and a create
-- already delivered is not sent again).
CREATE TABLE outbox (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  kind text NOT NULL CHECK (kind IN ('create', 'update', 'delete', 'audit')),
  resource_type text NOT NULL,
  resource_id text NOT NULL,
  body json,
  created_at timestamptz NOT NULL DEFAULT now(),
  attempts integer NOT NULL DEFAULT 0,
  last_error text,
  delivered_at timestamptz
);
CREATE INDEX outbox_pending ON outbox (seq) WHERE delivered_at IS NULL;
