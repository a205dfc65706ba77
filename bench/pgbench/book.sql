-- Floor (d): $book's own SQL in one transaction: the per-person locks (with the clearing
-- of the appointment's earlier holds), the hold insert the EXCLUDE constraint checks, the
-- Appointment written (current row, history row and index rows), and its AuditEvent appended
-- to the chain (the same append as read-audit.sql; swap it with that file's).
--
-- Variables from the bench: patients; appointment (the Appointment's JSON) and its index
-- rows astrings, atokens, adates, arefs, anumbers, auris; canonical, event and strings ..
-- uris for the AuditEvent, as in read-audit.sql. Each booking takes the next value of
-- bench_floor_book (made by the bench) for its id and its time: distinct times for one
-- practitioner, so every booking succeeds, as in the server scenario. (pgbench reads `:name`
-- as a variable even inside a quoted string, so the lock keys say `booking/` for `booking:`:
-- any text hashes alike.)
\set n random(0, :patients - 1)
\set lane random(0, 7)
BEGIN;
WITH k AS (SELECT nextval('bench_floor_book') AS k),
  cleared AS (DELETE FROM appointment_booking WHERE appointment_id = 'floor-' || (SELECT k FROM k))
SELECT (SELECT k FROM k) AS k, count(pg_advisory_xact_lock(hashtextextended(x.key, 7))) AS locked
FROM (SELECT key FROM unnest(ARRAY['booking/Practitioner/bench-dr-floor', 'booking/Patient/bench-p-' || :n::text]) AS key
      ORDER BY key COLLATE "C") AS x \gset
INSERT INTO appointment_booking (appointment_id, actor, period)
SELECT 'floor-' || :k::text, actor,
       tstzrange(timestamptz '2060-01-01Z' + :k::bigint * interval '31 minutes',
                 timestamptz '2060-01-01Z' + :k::bigint * interval '31 minutes' + interval '30 minutes', '[)')
FROM unnest(ARRAY['Practitioner/bench-dr-floor', 'Patient/bench-p-' || :n::text]) AS actor;
WITH
  cur AS (INSERT INTO resource_current (resource_type, id, version_id, last_updated, deleted, content)
          VALUES ('Appointment', 'floor-' || :k::text, 1, now(), false, :appointment::json) RETURNING id),
  hist AS (INSERT INTO resource_history (resource_type, id, version_id, last_updated, method, content)
           SELECT 'Appointment', cur.id, 1, now(), 'POST', :appointment::json FROM cur),
  i1 AS (INSERT INTO idx_string (resource_type, id, code, value, exact)
         SELECT 'Appointment', cur.id, x.code, x.value, x.exact
         FROM json_to_recordset(:astrings::json) AS x(code text, value text, exact text) CROSS JOIN cur),
  i2 AS (INSERT INTO idx_token (resource_type, id, code, system, value, text)
         SELECT 'Appointment', cur.id, x.code, x.system, x.value, x.text
         FROM json_to_recordset(:atokens::json) AS x(code text, system text, value text, text text) CROSS JOIN cur),
  i3 AS (INSERT INTO idx_date (resource_type, id, code, start_at, end_at)
         SELECT 'Appointment', cur.id, x.code, x.start::timestamptz, x."end"::timestamptz
         FROM json_to_recordset(:adates::json) AS x(code text, start text, "end" text) CROSS JOIN cur),
  i4 AS (INSERT INTO idx_reference (resource_type, id, code, target_type, target_id, url)
         SELECT 'Appointment', cur.id, x.code, x."targetType", x."targetId", x.url
         FROM json_to_recordset(:arefs::json) AS x(code text, "targetType" text, "targetId" text, url text) CROSS JOIN cur),
  i5 AS (INSERT INTO idx_number (resource_type, id, code, value, system, unit)
         SELECT 'Appointment', cur.id, x.code, x.value, x.system, x.unit
         FROM json_to_recordset(:anumbers::json) AS x(code text, value numeric, system text, unit text) CROSS JOIN cur),
  i6 AS (INSERT INTO idx_uri (resource_type, id, code, value)
         SELECT 'Appointment', cur.id, x.code, x.value
         FROM json_to_recordset(:auris::json) AS x(code text, value text) CROSS JOIN cur)
SELECT count(*) FROM cur;
WITH RECURSIVE
  head AS (SELECT lane, hash FROM audit_chain_head ORDER BY (lane + 8 - :lane) % 8
           LIMIT 1 FOR UPDATE SKIP LOCKED),
  ev AS (SELECT 1 AS n, gen_random_uuid()::text AS id, now() AS recorded,
                :canonical::text AS canonical, :event::json AS content),
  chain (n, prev_hash, hash) AS (
    SELECT 0, NULL::text, head.hash FROM head
    UNION ALL
    SELECT e.n, c.hash, encode(sha256(convert_to(c.hash || chr(10) || e.canonical, 'UTF8')), 'hex')
    FROM chain c JOIN ev e ON e.n = c.n + 1),
  link AS (INSERT INTO audit_log (id, recorded, lane, prev_hash, hash, content)
           SELECT e.id, e.recorded, head.lane, c.prev_hash, c.hash, e.content
           FROM ev e JOIN chain c ON c.n = e.n CROSS JOIN head RETURNING id),
  cur AS (INSERT INTO resource_current (resource_type, id, version_id, last_updated, deleted, content)
          SELECT 'AuditEvent', e.id, 1, e.recorded, false, e.content FROM ev e JOIN link ON link.id = e.id),
  hist AS (INSERT INTO resource_history (resource_type, id, version_id, last_updated, method, content)
           SELECT 'AuditEvent', e.id, 1, e.recorded, 'POST', e.content FROM ev e JOIN link ON link.id = e.id),
  i1 AS (INSERT INTO idx_string (resource_type, id, code, value, exact)
         SELECT 'AuditEvent', link.id, x.code, x.value, x.exact
         FROM json_to_recordset(:strings::json) AS x(code text, value text, exact text) CROSS JOIN link),
  i2 AS (INSERT INTO idx_token (resource_type, id, code, system, value, text)
         SELECT 'AuditEvent', link.id, x.code, x.system, x.value, x.text
         FROM json_to_recordset(:tokens::json) AS x(code text, system text, value text, text text) CROSS JOIN link),
  i3 AS (INSERT INTO idx_date (resource_type, id, code, start_at, end_at)
         SELECT 'AuditEvent', link.id, x.code, x.start::timestamptz, x."end"::timestamptz
         FROM json_to_recordset(:dates::json) AS x(code text, start text, "end" text) CROSS JOIN link),
  i4 AS (INSERT INTO idx_reference (resource_type, id, code, target_type, target_id, url)
         SELECT 'AuditEvent', link.id, x.code, x."targetType", x."targetId", x.url
         FROM json_to_recordset(:refs::json) AS x(code text, "targetType" text, "targetId" text, url text) CROSS JOIN link),
  i5 AS (INSERT INTO idx_number (resource_type, id, code, value, system, unit)
         SELECT 'AuditEvent', link.id, x.code, x.value, x.system, x.unit
         FROM json_to_recordset(:numbers::json) AS x(code text, value numeric, system text, unit text) CROSS JOIN link),
  i6 AS (INSERT INTO idx_uri (resource_type, id, code, value)
         SELECT 'AuditEvent', link.id, x.code, x.value
         FROM json_to_recordset(:uris::json) AS x(code text, value text) CROSS JOIN link)
SELECT count(*) AS appended FROM link \gset
\if :appended = 0
WITH RECURSIVE
  head AS (SELECT lane, hash FROM audit_chain_head WHERE lane = :lane FOR UPDATE),
  ev AS (SELECT 1 AS n, gen_random_uuid()::text AS id, now() AS recorded,
                :canonical::text AS canonical, :event::json AS content),
  chain (n, prev_hash, hash) AS (
    SELECT 0, NULL::text, head.hash FROM head
    UNION ALL
    SELECT e.n, c.hash, encode(sha256(convert_to(c.hash || chr(10) || e.canonical, 'UTF8')), 'hex')
    FROM chain c JOIN ev e ON e.n = c.n + 1),
  link AS (INSERT INTO audit_log (id, recorded, lane, prev_hash, hash, content)
           SELECT e.id, e.recorded, head.lane, c.prev_hash, c.hash, e.content
           FROM ev e JOIN chain c ON c.n = e.n CROSS JOIN head RETURNING id),
  cur AS (INSERT INTO resource_current (resource_type, id, version_id, last_updated, deleted, content)
          SELECT 'AuditEvent', e.id, 1, e.recorded, false, e.content FROM ev e JOIN link ON link.id = e.id),
  hist AS (INSERT INTO resource_history (resource_type, id, version_id, last_updated, method, content)
           SELECT 'AuditEvent', e.id, 1, e.recorded, 'POST', e.content FROM ev e JOIN link ON link.id = e.id),
  i1 AS (INSERT INTO idx_string (resource_type, id, code, value, exact)
         SELECT 'AuditEvent', link.id, x.code, x.value, x.exact
         FROM json_to_recordset(:strings::json) AS x(code text, value text, exact text) CROSS JOIN link),
  i2 AS (INSERT INTO idx_token (resource_type, id, code, system, value, text)
         SELECT 'AuditEvent', link.id, x.code, x.system, x.value, x.text
         FROM json_to_recordset(:tokens::json) AS x(code text, system text, value text, text text) CROSS JOIN link),
  i3 AS (INSERT INTO idx_date (resource_type, id, code, start_at, end_at)
         SELECT 'AuditEvent', link.id, x.code, x.start::timestamptz, x."end"::timestamptz
         FROM json_to_recordset(:dates::json) AS x(code text, start text, "end" text) CROSS JOIN link),
  i4 AS (INSERT INTO idx_reference (resource_type, id, code, target_type, target_id, url)
         SELECT 'AuditEvent', link.id, x.code, x."targetType", x."targetId", x.url
         FROM json_to_recordset(:refs::json) AS x(code text, "targetType" text, "targetId" text, url text) CROSS JOIN link),
  i5 AS (INSERT INTO idx_number (resource_type, id, code, value, system, unit)
         SELECT 'AuditEvent', link.id, x.code, x.value, x.system, x.unit
         FROM json_to_recordset(:numbers::json) AS x(code text, value numeric, system text, unit text) CROSS JOIN link),
  i6 AS (INSERT INTO idx_uri (resource_type, id, code, value)
         SELECT 'AuditEvent', link.id, x.code, x.value
         FROM json_to_recordset(:uris::json) AS x(code text, value text) CROSS JOIN link)
SELECT count(*) AS appended FROM link;
\endif
COMMIT;
