/**
 * A page of one patient's compartment ($everything), in one statement: the members are found
 * through the reference index (`idx_reference_reverse`: every row pointing at the Patient) and
 * kept when the reference is by one of their type's compartment parameters, the same table the
 * access policy reads (src/auth/compartment.ts), so a type served later is a member by the same
 * rule with nothing added here. Each row is held to the caller's search grant on its own type.
 */
import type { Resource } from 'fhir/r4.js';
import { PATIENT_ITSELF, patientCompartmentParams } from '../../auth/compartment.js';
import type { Sql } from '../../db/database.js';
import type { CompartmentPage, CompartmentQuery, RequestContext } from '../store.js';
import { accessConditionByType } from './access-sql.js';
import { Binds } from './search-sql.js';

/** What members refer to, at most, per page: as `_include` is bounded. */
const MAX_REFERENCED = 1000;

interface MemberRow {
  resource_type: string;
  id: string;
  content: Resource;
}

/** `Type code` pairs: the reference parameters that put a resource of each type in it. */
function links(types: string[]): string[] {
  return types.flatMap((type) =>
    patientCompartmentParams(type)
      .filter((param) => param !== PATIENT_ITSELF)
      .map((param) => `${type} ${param}`),
  );
}

async function members(sql: Sql, query: CompartmentQuery, ctx: RequestContext) {
  const b = new Binds();
  const patient = b.add(query.patient);
  const itself = query.types.includes('Patient')
    ? `SELECT 'Patient'::text, ${patient}::text UNION `
    : '';
  const filters = ['NOT r.deleted', accessConditionByType(b, 'r', ctx, 'search', query.types)];
  if (query.since) filters.push(`r.last_updated >= ${b.add(query.since)}::timestamptz`);
  // The Patient ranks first, then every other member by type and id: one keyset for all.
  const rank = `(CASE WHEN r.resource_type = 'Patient' THEN 0 ELSE 1 END)`;
  if (query.after) {
    const after = query.after;
    filters.push(
      `(${rank}, r.resource_type, r.id) > (${after.type === 'Patient' ? 0 : 1}, ${b.add(after.type)}::text, ${b.add(after.id)}::text)`,
    );
  }
  const rows = await sql.query<MemberRow>(
    `WITH member (resource_type, id) AS (
       ${itself}SELECT x.resource_type, x.id FROM idx_reference x
       WHERE x.target_type = 'Patient' AND x.target_id = ${patient}
         AND x.resource_type || ' ' || x.code = ANY(${b.add(links(query.types))}::text[]))
     SELECT r.resource_type, r.id, r.content FROM member m
     JOIN resource_current r ON r.resource_type = m.resource_type AND r.id = m.id
     WHERE ${filters.join(' AND ')}
     ORDER BY ${rank}, r.resource_type, r.id LIMIT ${b.add(query.count + 1)}`,
    b.values,
  );
  return rows;
}

/** The resources of `types` the page's members refer to, held to the read grant on each. */
async function referenced(
  sql: Sql,
  from: MemberRow[],
  types: string[],
  ctx: RequestContext,
): Promise<Resource[]> {
  if (!from.length || !types.length) return [];
  const b = new Binds();
  const rows = await sql.query<{ content: Resource }>(
    `SELECT DISTINCT ON (c.resource_type, c.id) c.content FROM idx_reference ref
     JOIN resource_current c ON c.resource_type = ref.target_type AND c.id = ref.target_id
       AND NOT c.deleted
     WHERE (ref.resource_type, ref.id) IN (
         SELECT * FROM unnest(${b.add(from.map((r) => r.resource_type))}::text[],
                              ${b.add(from.map((r) => r.id))}::text[]))
       AND ref.target_type = ANY(${b.add(types)}::text[])
       AND ${accessConditionByType(b, 'c', ctx, 'read', types)}
     ORDER BY c.resource_type, c.id LIMIT ${b.add(MAX_REFERENCED)}`,
    b.values,
  );
  return rows.map((row) => row.content);
}

export async function compartmentPage(
  sql: Sql,
  query: CompartmentQuery,
  ctx: RequestContext,
): Promise<CompartmentPage> {
  if (!query.types.length) return { members: [], referenced: [], next: undefined };
  const rows = await members(sql, query, ctx);
  const kept = rows.slice(0, query.count);
  const last = kept[kept.length - 1];
  const more = rows.length > query.count && last !== undefined;
  return {
    members: kept.map((row) => row.content),
    referenced: await referenced(sql, kept, query.referenced, ctx),
    next: more ? { type: last.resource_type, id: last.id } : undefined,
  };
}
