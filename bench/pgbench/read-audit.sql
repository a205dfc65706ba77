-- Floor (b): read one resource row and append its AuditEvent in ONE statement (autocommit: the
-- commit waits for the WAL flush, as the fail-closed audit does).
--
-- The statement itself is not written here: bench/floor/floors.ts appends, below this header,
-- the very statement src/store/postgres/read-audited.ts sends for `GET /fhir/Patient/{id}`
-- (readAuditedStatement: the row, its compartment patients from idx_reference, the event
-- spliced and hashed onto a free lane's head taken with SKIP LOCKED, one audit_event row whose
-- columns audit_event_index derives), with each bind parameter a pgbench variable. When no
-- lane was free it appends the event as the server then does, through writer.ts's own two
-- statements (a free lane, else queue on lane :lane). So a change to the server's statement
-- changes this floor with it.
--
-- Per transaction: the Patient read is bench-p-:n, and the event's id is floor-r-:u (pgbench
-- can't make a UUID variable; the event's JSON and canonical JSON get it by replace()).
\set n random(0, :patients - 1)
\set u random(1, 9000000000000000000)
\set lane random(0, 7)
