import type { Resource } from 'fhir/r4.js';
import { emptyIndexValues, extractIndexValues, type IndexValues } from '../../search/extract.js';
import type { Sql } from '../../db/database.js';
import type { ResourceIndexer } from './indexer.js';

/**
 * Replaces a resource's index rows in one statement: six deletes and six inserts as
 * data-modifying CTEs, rows passed as JSON. They share one snapshot, so the deletes can't see
 * (or remove) what the inserts add.
 */
const REINDEX = `
WITH
  d1 AS (DELETE FROM idx_string WHERE resource_type = $1 AND id = $2),
  d2 AS (DELETE FROM idx_token WHERE resource_type = $1 AND id = $2),
  d3 AS (DELETE FROM idx_date WHERE resource_type = $1 AND id = $2),
  d4 AS (DELETE FROM idx_reference WHERE resource_type = $1 AND id = $2),
  d5 AS (DELETE FROM idx_number WHERE resource_type = $1 AND id = $2),
  d6 AS (DELETE FROM idx_uri WHERE resource_type = $1 AND id = $2),
  i1 AS (INSERT INTO idx_string (resource_type, id, code, value, exact)
         SELECT $1, $2, x.code, x.value, x.exact
         FROM json_to_recordset($3::json) AS x(code text, value text, exact text)),
  i2 AS (INSERT INTO idx_token (resource_type, id, code, system, value, text)
         SELECT $1, $2, x.code, x.system, x.value, x.text
         FROM json_to_recordset($4::json) AS x(code text, system text, value text, text text)),
  i3 AS (INSERT INTO idx_date (resource_type, id, code, start_at, end_at)
         SELECT $1, $2, x.code, x.start::timestamptz, x."end"::timestamptz
         FROM json_to_recordset($5::json) AS x(code text, start text, "end" text)),
  i4 AS (INSERT INTO idx_reference (resource_type, id, code, target_type, target_id, url)
         SELECT $1, $2, x.code, x."targetType", x."targetId", x.url
         FROM json_to_recordset($6::json)
           AS x(code text, "targetType" text, "targetId" text, url text)),
  i5 AS (INSERT INTO idx_number (resource_type, id, code, value, system, unit)
         SELECT $1, $2, x.code, x.value, x.system, x.unit
         FROM json_to_recordset($7::json) AS x(code text, value numeric, system text, unit text)),
  i6 AS (INSERT INTO idx_uri (resource_type, id, code, value)
         SELECT $1, $2, x.code, x.value
         FROM json_to_recordset($8::json) AS x(code text, value text))
SELECT 1`;

/** The six kinds of index rows as JSON texts, in the order the statements bind them. */
export function indexRowsJson(values: IndexValues): string[] {
  return [
    JSON.stringify(values.strings),
    JSON.stringify(values.tokens),
    JSON.stringify(values.dates),
    JSON.stringify(values.references),
    JSON.stringify(values.numbers),
    JSON.stringify(values.uris),
  ];
}

export function searchIndexer(baseUrl?: string): ResourceIndexer {
  return {
    extract: (resource: Resource) =>
      extractIndexValues(resource as Resource & Record<string, unknown>, baseUrl),
    async index(sql: Sql, type: string, id: string, resource: Resource | undefined) {
      const values = resource
        ? extractIndexValues(resource as Resource & Record<string, unknown>, baseUrl)
        : emptyIndexValues();
      await sql.query(REINDEX, [type, id, ...indexRowsJson(values)]);
    },
  };
}
