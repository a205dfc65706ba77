/**
 * The access policy as SQL: a condition over a `resource_current` row (alias `r` or another)
 * that is true exactly when the caller's grant covers it. Every read, search, include, history
 * and write of the Postgres store ANDs it into its own query, so what a caller may not see is
 * never fetched, counted or paged over.
 */
import type { Access, Compartment, TypeGrant } from '../../auth/policy.js';
import { PATIENT_ITSELF, patientCompartmentParams } from '../../auth/compartment.js';
import { FhirError } from '../../fhir/errors.js';
import { RESOURCE_TYPES } from '../../fhir/resource-types.js';
import { parseSearch } from '../../search/parse.js';
import type { RequestContext } from '../store.js';
import { matchSet, type Binds, type Guard } from './search-sql.js';
import { auditAccessCondition } from './audit-event-sql.js';

/** What one caller holds for one (type, access): a condition to AND in, or nothing to add. */
export type Visibility =
  { kind: 'everything' } | { kind: 'restricted'; grant: TypeGrant } | { kind: 'nothing' };

export function visibility(ctx: RequestContext, type: string, access: Access): Visibility {
  if (ctx.access === 'unrestricted') return { kind: 'everything' };
  const grant = ctx.access.grant(type, access);
  if (!grant) return { kind: 'nothing' };
  const open = grant.compartments.some((c) => c.kind === 'all') && grant.filters.length === 0;
  return open ? { kind: 'everything' } : { kind: 'restricted', grant };
}

/**
 * What a chain or `_has` reaches is held to the caller's search grant on that type: a type
 * they can't search matches nothing, one they see in part matches only that part. (The REST
 * layer already refuses, 403, a chain or `_has` into a type with no search grant at all.)
 */
export function reachGuard(ctx: RequestContext): Guard | undefined {
  if (ctx.access === 'unrestricted') return undefined;
  return (b, alias, type) => {
    const seen = visibility(ctx, type, 'search');
    if (seen.kind === 'everything') return undefined;
    // AuditEvents are rows of audit_event, always under the alias `e` (audit-event-sql.ts).
    if (type === 'AuditEvent') return auditAccessCondition(b, seen);
    return accessCondition(b, alias, type, seen);
  };
}

/** The store's own guard: the REST layer authorizes first, so this is never the first refusal. */
export function requireSome(ctx: RequestContext, type: string, access: Access): Visibility {
  const seen = visibility(ctx, type, access);
  if (seen.kind === 'nothing') {
    throw new FhirError(
      403,
      'forbidden',
      `The token's scopes and role do not allow ${access} on ${type}`,
    );
  }
  return seen;
}

/**
 * SQL true for the rows of `alias` the caller may touch; `TRUE` when nothing restricts them.
 * `alias` must have `resource_type` and `id` columns (resource_current, or history joined to it).
 */
export function accessCondition(b: Binds, alias: string, type: string, seen: Visibility): string {
  return grantCondition(
    seen,
    (c) => memberOf(b, alias, type, c),
    (filter) => matchesFilter(b, alias, type, filter),
  );
}

/**
 * A grant as SQL, given how a row is in one of its compartments and how it matches one of its
 * v2 filters: in some compartment (any, with an `all` one) and matching some filter (any, with
 * none). The AuditEvent store uses it over its own table (audit-event-sql.ts).
 */
export function grantCondition(
  seen: Visibility,
  member: (compartment: Exclude<Compartment, { kind: 'all' }>) => string,
  filter: (filter: URLSearchParams) => string,
): string {
  switch (seen.kind) {
    case 'everything':
      return 'TRUE';
    case 'nothing':
      return 'FALSE';
    case 'restricted': {
      const { compartments, filters } = seen.grant;
      const inCompartment = compartments.some((c) => c.kind === 'all')
        ? 'TRUE'
        : `(${
            compartments.map((c) => (c.kind === 'all' ? 'TRUE' : member(c))).join(' OR ') || 'FALSE'
          })`;
      const filtered = filters.length ? `(${filters.map(filter).join(' OR ')})` : 'TRUE';
      return `(${inCompartment} AND ${filtered})`;
    }
  }
}

/**
 * The same over rows of several types (what `_include` may reach): each row is held to its
 * own type's grant, and types outside `types` to nothing.
 */
export function accessConditionByType(
  b: Binds,
  alias: string,
  ctx: RequestContext,
  access: Access,
  types: Iterable<string> = RESOURCE_TYPES.keys(),
): string {
  if (ctx.access === 'unrestricted') return 'TRUE';
  const arms: string[] = [];
  for (const type of types) {
    const seen = visibility(ctx, type, access);
    if (seen.kind === 'nothing') continue;
    arms.push(`WHEN ${b.add(type)} THEN ${accessCondition(b, alias, type, seen)}`);
  }
  return arms.length ? `(CASE ${alias}.resource_type ${arms.join(' ')} ELSE FALSE END)` : 'FALSE';
}

/**
 * SQL listing those of `patients` that no compartment of the grant reaches, as the database
 * holds it now: run before a write, it is the grant as it stood before the write.
 */
export function patientsOutside(b: Binds, patients: string[], grant: TypeGrant): string {
  const reached = grant.compartments.map((c) =>
    c.kind === 'all' ? 'TRUE' : `x.id IN (${patientSet(b, c)})`,
  );
  return `SELECT x.id FROM unnest(${b.add(patients)}::text[]) x (id)
    WHERE NOT (${reached.join(' OR ') || 'FALSE'})`;
}

/** The rows of `type` in the compartment of any patient in `compartment`. */
function memberOf(b: Binds, alias: string, type: string, compartment: Compartment): string {
  if (compartment.kind === 'all') return 'TRUE';
  const params = patientCompartmentParams(type);
  const links = params.filter((param) => param !== PATIENT_ITSELF);
  // A type in no compartment (Group) matches nothing; binding the patients anyway would leave
  // a parameter the statement never uses, whose type Postgres can't determine.
  if (params.length === 0) return 'FALSE';
  const patients = patientSet(b, compartment);
  const arms: string[] = [];
  if (params.includes(PATIENT_ITSELF)) arms.push(`${alias}.id IN (${patients})`);
  if (links.length) {
    arms.push(
      `${alias}.id IN (SELECT x.id FROM idx_reference x WHERE x.resource_type = ${b.add(type)}
         AND x.code = ANY(${b.add(links)}::text[]) AND x.target_type = 'Patient'
         AND x.target_id IN (${patients}))`,
    );
  }
  return arms.length ? `(${arms.join(' OR ')})` : 'FALSE';
}

/**
 * SQL listing patient ids. A practitioner's patients are those naming them as general
 * practitioner, or with an Encounter or Appointment they take part in; a guardian's are the
 * patients of their RelatedPerson, unless it is marked inactive. Both read the index tables, so
 * they follow the current version of those resources and nothing deleted.
 */
export function patientSet(b: Binds, compartment: Exclude<Compartment, { kind: 'all' }>): string {
  switch (compartment.kind) {
    case 'patients': {
      const listed = `SELECT unnest(${b.add(compartment.ids)}::text[])`;
      // A launch patient counts only when the user's role reaches it too.
      return compartment.within
        ? `${listed} INTERSECT (${patientSet(b, compartment.within)})`
        : listed;
    }
    case 'practitioner-linked': {
      const me = b.add(compartment.practitioner);
      const via = (type: string, codes: string[]) =>
        `SELECT p.target_id FROM idx_reference a
         JOIN idx_reference p ON p.resource_type = a.resource_type AND p.id = a.id
           AND p.code = 'patient' AND p.target_type = 'Patient'
         WHERE a.resource_type = '${type}' AND a.code IN (${codes.map((c) => `'${c}'`).join(', ')})
           AND a.target_type = 'Practitioner' AND a.target_id = ${me}`;
      return `SELECT g.id FROM idx_reference g WHERE g.resource_type = 'Patient'
          AND g.code = 'general-practitioner' AND g.target_type = 'Practitioner' AND g.target_id = ${me}
        UNION ${via('Encounter', ['participant', 'practitioner'])}
        UNION ${via('Appointment', ['actor', 'practitioner'])}`;
    }
    case 'guardian': {
      const me = b.add(compartment.relatedPerson);
      return `SELECT rp.target_id FROM idx_reference rp WHERE rp.resource_type = 'RelatedPerson'
          AND rp.id = ${me} AND rp.code = 'patient' AND rp.target_type = 'Patient'
          AND NOT EXISTS (SELECT 1 FROM idx_token t WHERE t.resource_type = 'RelatedPerson'
            AND t.id = ${me} AND t.code = 'active' AND t.value = 'false')`;
    }
  }
}

/**
 * A v2 fine-grained restriction (`?category=laboratory`) as the search it names. A filter that
 * doesn't parse for this type (an unknown parameter, a bad value) matches nothing: a
 * restriction we can't apply must narrow, never widen.
 */
function matchesFilter(b: Binds, alias: string, type: string, filter: URLSearchParams): string {
  let conditions;
  try {
    conditions = parseSearch(type, filter, { baseUrl: '', strict: true }).conditions;
  } catch {
    return 'FALSE';
  }
  if (!conditions.length) return 'FALSE';
  return `(${conditions.map((c) => `${alias}.id IN (${matchSet(b, type, c)})`).join(' AND ')})`;
}
