-- The outbox is delivered under a lease instead of inside a transaction that holds its rows
-- while the store is called (src/workflow/outbox.ts): the store may share this database (the
-- HealthLake store's local tables do), and embedded PGlite has one connection, so a delivery
-- holding a transaction open while the store opens its own waited on itself. One deliverer at a
-- time holds live leases on the oldest rows; another replica takes over when they run out.
-- lease_token names the claim: a deliverer changes only rows it still holds, so one whose
-- lease ran out (a stalled process) can't clear or renew the next holder's.
ALTER TABLE outbox ADD COLUMN lease_until timestamptz, ADD COLUMN lease_token uuid;
