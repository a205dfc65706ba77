/**
 * The access policy as HealthLake query parameters. Postgres ANDs SQL into its own queries
 * (access-sql.ts); upstream we can only add search parameters, so:
 * - a compartment becomes one more parameter naming the caller's patients (`patient=Patient/a,
 *   Patient/b`, or `_id=` on Patient). FHIR can't OR two parameters, so of the compartment's
 *   links we use one (`patient`, else `subject`, else the first): that can only narrow access;
 * - practitioner-linked and guardian compartments are resolved to patient ids first, with
 *   upstream searches, once per request;
 * - one v2 filter is ANDed in as the parameters it names; several (an OR) can't be said in one
 *   query and are refused (501), never dropped;
 * - a read by id can't carry parameters, so the resource is fetched and its patient references
 *   checked here (extracted with the same indexer the Postgres store uses).
 */
import type { Resource } from 'fhir/r4.js';
import type { Access, Compartment, TypeGrant } from '../../auth/policy.js';
import { PATIENT_ITSELF, patientCompartmentParams } from '../../auth/compartment.js';
import { FhirError } from '../../fhir/errors.js';
import { extractIndexValues } from '../../search/extract.js';
import { parseSearch } from '../../search/parse.js';
import { reachedTypes, type SearchQuery } from '../../search/query.js';
import type { RequestContext } from '../store.js';
import { patientsOfResource, patientsToReach, type WriteKind } from '../../auth/write-reach.js';

/** What a caller may see of a type, in upstream terms. */
export type UpstreamScope =
  | { kind: 'everything' }
  | { kind: 'nothing' }
  /** ANDed with the query upstream; `grant` for the checks made here. */
  | {
      kind: 'constrained';
      params: [string, string][];
      grant: TypeGrant;
      patients: Set<string> | 'all';
    };

/** Fetches a page of a search upstream, following next links: the resources it found. */
export type UpstreamLister = (type: string, params: [string, string][]) => Promise<Resource[]>;
export type UpstreamReader = (type: string, id: string) => Promise<Resource | undefined>;

export interface AccessResolver {
  list: UpstreamLister;
  read: UpstreamReader;
}

/** The grant, or the store's own 403 (the REST layer authorizes first, so rarely seen). */
export function grantFor(
  ctx: RequestContext,
  type: string,
  access: Access,
): TypeGrant | 'everything' {
  if (ctx.access === 'unrestricted') return 'everything';
  const grant = ctx.access.grant(type, access);
  if (!grant) {
    throw new FhirError(
      403,
      'forbidden',
      `The token's scopes and role do not allow ${access} on ${type}`,
    );
  }
  const open = grant.compartments.some((c) => c.kind === 'all') && grant.filters.length === 0;
  return open ? 'everything' : grant;
}

/**
 * A chain or `_has` is sent upstream as it is, and HealthLake can't hold what it reaches to the
 * caller's grant on that type. So here it may reach only types the caller sees whole: into a
 * type seen in part (a compartment, a filter) it is refused with 403, never run unguarded.
 */
export function assertReachable(ctx: RequestContext, query: SearchQuery): void {
  for (const condition of query.conditions) {
    for (const type of reachedTypes(condition)) {
      if (grantFor(ctx, type, 'search') === 'everything') continue;
      throw new FhirError(
        403,
        'forbidden',
        `A chain or _has into ${type} needs search access to every ${type} on the HealthLake store`,
        undefined,
        { 'www-authenticate': 'Bearer realm="telefhir", error="insufficient_scope"' },
      );
    }
  }
}

/** The compartment parameter used upstream for `type`, or undefined outside the compartment. */
export function compartmentParam(type: string): string | undefined {
  const params = patientCompartmentParams(type);
  if (params.includes(PATIENT_ITSELF)) return '_id';
  for (const preferred of ['patient', 'subject']) if (params.includes(preferred)) return preferred;
  return params[0];
}

/** Resolutions are per request: the same grant objects come back for every call of one. */
const resolved = new WeakMap<object, Map<string, Promise<string[]>>>();

async function resolvePatients(
  ctx: RequestContext,
  compartment: Exclude<Compartment, { kind: 'all' }>,
  resolver: AccessResolver,
): Promise<string[]> {
  if (compartment.kind === 'patients') {
    if (!compartment.within) return compartment.ids;
    // A launch patient counts only when the user's role reaches it too.
    const reached = new Set(await resolvePatients(ctx, compartment.within, resolver));
    return compartment.ids.filter((id) => reached.has(id));
  }
  const key = JSON.stringify(compartment);
  const holder = typeof ctx.access === 'object' ? ctx.access : undefined;
  let cache = holder ? resolved.get(holder) : undefined;
  if (holder && !cache) resolved.set(holder, (cache = new Map()));
  const hit = cache?.get(key);
  if (hit) return hit;
  const work =
    compartment.kind === 'guardian'
      ? guardianPatients(compartment.relatedPerson, resolver)
      : linkedPatients(compartment.practitioner, resolver);
  cache?.set(key, work);
  work.catch(() => cache?.delete(key));
  return work;
}

/** The patients of an active RelatedPerson. */
async function guardianPatients(
  relatedPerson: string,
  resolver: AccessResolver,
): Promise<string[]> {
  const person = (await resolver.read('RelatedPerson', relatedPerson)) as
    (Resource & { active?: boolean }) | undefined;
  if (!person || person.active === false) return [];
  return [...patientsOfResource(person)];
}

/** Patients naming the practitioner as GP, or with an Encounter or Appointment they take part in. */
async function linkedPatients(practitioner: string, resolver: AccessResolver): Promise<string[]> {
  const me = `Practitioner/${practitioner}`;
  const [patients, encounters, appointments] = await Promise.all([
    resolver.list('Patient', [['general-practitioner', me]]),
    resolver.list('Encounter', [['participant', me]]),
    resolver.list('Appointment', [['actor', me]]),
  ]);
  const ids = new Set(patients.flatMap((p) => (p.id ? [p.id] : [])));
  for (const linked of [...encounters, ...appointments]) {
    for (const ref of extractIndexValues(linked as Resource & Record<string, unknown>).references) {
      if (ref.code === 'patient' && ref.targetType === 'Patient' && ref.targetId)
        ids.add(ref.targetId);
    }
  }
  return [...ids];
}

/** Does a filter parse for the type? One that doesn't must match nothing, never be ignored. */
function usableFilter(type: string, filter: URLSearchParams): boolean {
  try {
    return parseSearch(type, filter, { baseUrl: '', strict: true }).conditions.length > 0;
  } catch {
    return false;
  }
}

export async function upstreamScope(
  ctx: RequestContext,
  type: string,
  access: Access,
  resolver: AccessResolver,
): Promise<UpstreamScope> {
  const grant = grantFor(ctx, type, access);
  if (grant === 'everything') return { kind: 'everything' };
  const params: [string, string][] = [];
  let patients: Set<string> | 'all' = 'all';
  if (!grant.compartments.some((c) => c.kind === 'all')) {
    const param = compartmentParam(type);
    const ids = new Set<string>();
    for (const c of grant.compartments) {
      if (c.kind === 'all') continue;
      for (const id of await resolvePatients(ctx, c, resolver)) ids.add(id);
    }
    if (!param || ids.size === 0) return { kind: 'nothing' };
    patients = ids;
    const list = [...ids];
    params.push([
      param,
      param === '_id' ? list.join(',') : list.map((id) => `Patient/${id}`).join(','),
    ]);
  }
  if (grant.filters.length > 1) {
    throw new FhirError(
      501,
      'not-supported',
      `The token's fine-grained scopes on ${type} are an OR of several filters, which the HealthLake store can't apply upstream`,
    );
  }
  const filter = grant.filters[0];
  if (filter) {
    if (!usableFilter(type, filter)) return { kind: 'nothing' };
    params.push(...filter);
  }
  return { kind: 'constrained', params, grant, patients };
}

/**
 * Is this fetched resource inside the scope? Compartments are checked here; a filter, by asking
 * upstream whether the resource matches it (`_id=` plus the filter).
 */
export async function isInside(
  resource: Resource,
  scope: UpstreamScope,
  resolver: AccessResolver,
): Promise<boolean> {
  if (scope.kind === 'everything') return true;
  if (scope.kind === 'nothing') return false;
  if (scope.patients !== 'all') {
    const { patients } = scope;
    if (![...patientsOfResource(resource)].some((id) => patients.has(id))) return false;
  }
  const filter = scope.grant.filters[0];
  if (!filter || !resource.id) return true;
  const found = await resolver.list(resource.resourceType, [['_id', resource.id], ...filter]);
  return found.some((r) => r.id === resource.id);
}

/**
 * Does a write stay inside the scope as it stood before the write (see auth/write-reach.ts)?
 * Every patient the new version belongs to must be one the caller already reaches; the scope's
 * patients were resolved upstream before this unit's writes are sent, so a write can't widen
 * them. Write scopes carry no filter (refused in writeScope).
 */
export function reachedBefore(resource: Resource, scope: UpstreamScope, kind: WriteKind) {
  if (scope.kind === 'everything') return true;
  if (scope.kind === 'nothing') return false;
  if (scope.patients === 'all') return true;
  const { patients } = scope;
  const needed = patientsToReach(resource, scope.grant, kind);
  const belongs = patientsOfResource(resource).size > 0;
  return belongs && needed.every((id) => patients.has(id));
}
