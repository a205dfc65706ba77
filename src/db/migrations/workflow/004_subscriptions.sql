-- Subscriptions (src/subscriptions/). The Subscription resources live here, beside the outbox,
-- not in the clinical tables: each row carries what the clinical store has no place for (its
-- owner's grant facts, the signing secret, the delivery state), and a write hook reads the
-- matching rows inside every clinical write's transaction.
CREATE TABLE subscription (
  id text PRIMARY KEY,
  version_id integer NOT NULL,
  -- iss + sub of the token that created it: only that caller reads, changes or binds it.
  owner text NOT NULL,
  -- The creating token's claims that make a grant (scope, role, patient, fhirUser, client_id):
  -- every notification is read under them again when it is delivered.
  grant_claims jsonb NOT NULL,
  resource jsonb NOT NULL,
  status text NOT NULL CHECK (status IN ('requested', 'active', 'error', 'off')),
  -- Subscription.error: why delivery stopped (no PHI: a status code or a network error).
  error text,
  criteria_type text NOT NULL,
  channel text NOT NULL,
  -- HMAC-SHA256 key of the rest-hook signature (base64), shown to the owner once, at create.
  secret text NOT NULL,
  -- A replica delivering this subscription's notifications holds it until then.
  lease_until timestamptz
);
CREATE INDEX subscription_matching ON subscription (criteria_type)
  WHERE status IN ('requested', 'active');
CREATE INDEX subscription_owner ON subscription (owner);

-- The notification outbox: a sibling of `outbox` (that one is one global order of writes to a
-- store; these are ordered per subscription and carry backoff). Rows are written in the
-- transaction of the change they report, so a committed change is never lost and a rolled back
-- one never reported; `id` is the notification id the receiver sees on every attempt.
CREATE TABLE subscription_notification (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id uuid NOT NULL UNIQUE,
  subscription_id text NOT NULL REFERENCES subscription (id) ON DELETE CASCADE,
  kind text NOT NULL CHECK (kind IN ('handshake', 'create', 'update', 'delete')),
  resource_type text,
  resource_id text,
  version_id text,
  created_at timestamptz NOT NULL DEFAULT now(),
  first_attempt_at timestamptz,
  next_attempt_at timestamptz,
  attempts integer NOT NULL DEFAULT 0,
  last_error text,
  delivered_at timestamptz
);
CREATE INDEX subscription_notification_pending ON subscription_notification (subscription_id, seq)
  WHERE delivered_at IS NULL;
