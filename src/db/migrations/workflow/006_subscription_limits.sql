-- Subscription limits (src/subscriptions/): every Subscription ends. `end_at` is
-- Subscription.end as the server holds it: the client's `end`, or the server's cap
-- (SUBSCRIPTION_MAX_LIFETIME_HOURS) when it asked for none or for more. After it the
-- Subscription is `off`: nothing is matched or delivered, whatever grant it was created under.
ALTER TABLE subscription ADD COLUMN end_at timestamptz;
-- Subscriptions made before the cap existed get the default cap (30 days) from now.
UPDATE subscription SET end_at = now() + interval '720 hours' WHERE end_at IS NULL;
ALTER TABLE subscription ALTER COLUMN end_at SET NOT NULL;
