-- Floor (d): $book's own SQL in one transaction: the per-person locks (with the clearing
-- of the appointment's earlier holds), the hold insert the EXCLUDE constraint checks, the
-- Appointment written (current row, history row and index rows), and its AuditEvent appended
-- as one audit_event row by the server's own statements (appended below by floors.ts).
--
-- Variables from the bench: patients; appointment (the Appointment's JSON) and its index
-- rows astrings, atokens, adates, arefs, anumbers, auris; the AuditEvent's JSON and canonical
-- JSON (its id becomes floor-b-:k by replace()). Each booking takes the next value of
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
-- The AuditEvent's append follows, written by bench/floor/floors.ts: writer.ts's own two
-- statements (APPEND_TO_FREE_LANE, then APPEND_TO_LANE when no lane was free), then COMMIT.
