-- Floor (b): read one resource row and append its AuditEvent in ONE statement (a CTE, in
-- autocommit: the commit waits for the WAL flush, as the fail-closed audit does).
--
-- The append mirrors today's shape (src/audit/writer.ts): lock a lane head (a free one
-- first, else queue on one), hash the event onto it, insert the chain link, the served copy,
-- its history row and its search-index rows. When the audit becomes one row in
-- `audit_event`, replace this file with that statement; the bench runs whatever is here.
--
-- Variables from the bench: patients; canonical and event (a read's AuditEvent as the
-- server builds it: canonical JSON and content); strings, tokens, dates, refs, numbers, uris
-- (its index rows, without ids). Each event gets a fresh id here.
\set n random(0, :patients - 1)
\set lane random(0, 7)
WITH RECURSIVE
  r AS (SELECT r.content FROM resource_current r
        WHERE r.resource_type = 'Patient' AND r.id = 'bench-p-' || :n::text),
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
SELECT (SELECT count(*) FROM link) AS appended, (SELECT count(*) FROM r) AS found \gset
-- Every lane was busy: queue on one, as the writer does.
\if :appended = 0
WITH RECURSIVE
  r AS (SELECT r.content FROM resource_current r
        WHERE r.resource_type = 'Patient' AND r.id = 'bench-p-' || :n::text),
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
SELECT (SELECT count(*) FROM link) AS appended, (SELECT count(*) FROM r) AS found;
\endif
