-- Floor (a): read one resource row by primary key, as PostgresStore.read asks for it.
-- Variables from the bench (bench/floor/floors.ts): patients (the seeded Patients are
-- bench-p-0 .. bench-p-<patients - 1>).
\set n random(0, :patients - 1)
SELECT r.version_id, r.deleted, r.content, TRUE AS visible FROM resource_current r
WHERE r.resource_type = 'Patient' AND r.id = 'bench-p-' || :n::text;
