/**
 * The AccessPolicy: what one principal may do, type by type, as data the store turns into SQL
 * WHERE clauses. A grant needs both a scope and a role (SMART scopes say what the client app
 * may do, roles say what the user may do); its compartment is the narrower of the two.
 *
 * Roles, per resource type ("clinical" = in the Patient compartment, see compartment.ts;
 * "directory" = the served types outside it: Practitioner, PractitionerRole, Organization,
 * Location, Endpoint, Schedule, Slot, Medication; Group is clinical but in no compartment, so
 * only grants over every patient reach it):
 * - ADMIN: everything, everywhere.
 * - PROVIDER, NURSE: clinical cruds for patients linked to them (`practitioner-linked`, or
 *   `all` when PolicyOptions.providerScope is 'all'); directory read/search. Their fhirUser
 *   must be a Practitioner for the assignment to be known; otherwise clinical data is closed.
 * - RECEPTIONIST, STAFF: Appointment, Schedule, Slot cruds; Patient create/read/update/search
 *   (registering and correcting demographics; deleting a patient is an ADMIN act);
 *   Practitioner, PractitionerRole, Organization, Location, Endpoint read/search (who to book
 *   with, and where). Nothing
 *   clinical. Every patient: the front desk serves whoever walks in.
 * - PATIENT, GUARDIAN: read/search of their compartment(s) and of directory data; no writes
 *   over REST (booking goes through $book, which authorizes itself). PATIENT's own id is the
 *   Patient in fhirUser, else the `patient` claim; GUARDIAN's patients are found through the
 *   RelatedPerson in fhirUser.
 * - AuditEvent: read/search by ADMIN or system/ scopes only; never created, updated or deleted
 *   through a grant, whatever the scopes say (the server writes it).
 */
import { RESOURCE_TYPES } from '../fhir/resource-types.js';
import type { Principal, Role } from './claims.js';
import { isInPatientCompartment } from './compartment.js';
import type { Interaction, ResourceScope } from './scopes.js';

/** history and vread are 'read'. */
export type Access = 'create' | 'read' | 'update' | 'delete' | 'search';

/** Patients whose generalPractitioner, or an Encounter/Appointment participant, is this one. */
export type PractitionerLinked = { kind: 'practitioner-linked'; practitioner: string };
/** Patients that RelatedPerson/<relatedPerson>.patient points at. */
export type Guardianship = { kind: 'guardian'; relatedPerson: string };

export type Compartment =
  | { kind: 'all' }
  /**
   * Resources in these patients' compartments; with `within`, only those of them that are
   * also in that compartment (a launch patient checked against the user's own patients).
   */
  | { kind: 'patients'; ids: string[]; within?: PractitionerLinked | Guardianship }
  | PractitionerLinked
  | Guardianship;

export interface TypeGrant {
  type: string;
  /** Every access on this type that shares exactly these compartments and filters. */
  access: Set<Access>;
  /** ORed; [] = nothing (never returned: no access is `undefined`). */
  compartments: Compartment[];
  /**
   * v2 fine-grained restrictions, ORed; empty = no restriction. For search and read they AND
   * with the query; for create/update/delete the resource (new and stored) must match one. A
   * filter naming a parameter the type lacks must match nothing, never be ignored.
   */
  filters: URLSearchParams[];
}

export interface AccessPolicy {
  principal: Principal;
  breakGlass?: { reason: string };
  /** undefined = no access at all to that type for that interaction */
  grant(type: string, access: Access): TypeGrant | undefined;
  /** Served types with a read or search grant (for _include/_revinclude and system history). */
  readableTypes(): string[];
}

export interface PolicyOptions {
  providerScope: 'assigned' | 'all';
}

const ACCESSES: readonly Access[] = ['create', 'read', 'update', 'delete', 'search'];
const INTERACTION: Readonly<Record<Access, Interaction>> = {
  create: 'c',
  read: 'r',
  update: 'u',
  delete: 'd',
  search: 's',
};
const ALL: Compartment = { kind: 'all' };
const SCHEDULING = new Set(['Appointment', 'Schedule', 'Slot']);
const FRONT_DESK_DIRECTORY = new Set([
  'Practitioner',
  'PractitionerRole',
  'Organization',
  'Location',
  'Endpoint',
]);

/** One way in: a scope's compartment narrowed by one role's, with the scope's filter. */
interface Term {
  compartment: Compartment;
  filter?: URLSearchParams;
}
type Shape = Pick<TypeGrant, 'compartments' | 'filters'>;

/** One question (type, access) with the facts every rule needs. */
interface Ask {
  type: string;
  access: Access;
  reading: boolean;
  /** In the Patient compartment; otherwise directory data. */
  clinical: boolean;
  principal: Principal;
  options: PolicyOptions;
  breakGlass: boolean;
}
type Facts = Pick<Ask, 'principal' | 'options' | 'breakGlass'>;

/**
 * Break-glass is recorded only when it can widen something: a PROVIDER or NURSE under
 * providerScope 'assigned', with a non-blank reason. It opens read and search of clinical data
 * for every patient (`all`), never writes; patient/ scopes stay on their launch patient.
 */
export function buildPolicy(
  principal: Principal,
  options: PolicyOptions,
  breakGlassReason?: string,
): AccessPolicy {
  const reason = breakGlassReason?.trim();
  const clinician = principal.roles.some((role) => role === 'PROVIDER' || role === 'NURSE');
  const breakGlass =
    reason && clinician && options.providerScope === 'assigned' ? { reason } : undefined;

  // A type's grants are worked out the first time anyone with the same facts asks about that
  // type, and kept (see grantTable): most requests touch one or two of the served types, and
  // this runs on every request.
  const facts: Facts = { principal, options, breakGlass: breakGlass !== undefined };
  const table = grantTable(facts);
  const grantsOf = (type: string) => {
    let grants = table.get(type);
    if (!grants) {
      grants = RESOURCE_TYPES.has(type) ? grantsFor(type, facts) : new Map();
      table.set(type, grants);
    }
    return grants;
  };
  const policy: AccessPolicy = {
    principal,
    grant: (type, access) => copyGrant(grantsOf(type).get(access)),
    readableTypes: () =>
      [...RESOURCE_TYPES.keys()].filter((type) => {
        const grants = grantsOf(type);
        return grants.has('read') || grants.has('search');
      }),
  };
  if (breakGlass) policy.breakGlass = breakGlass;
  return policy;
}

/** How many distinct sets of facts keep their grants (a few per user and app, at most). */
const GRANT_TABLES_KEPT = 2048;
const grantTables = new Map<string, Map<string, Map<Access, TypeGrant>>>();

/**
 * The grants are a pure function of the facts: the roles, the resource scopes (their text says
 * all of them), the fhirUser and patient claims, the options and whether break-glass applies;
 * never of who the subject is. Every request with the same facts (every request of one token,
 * and of every token like it) shares one table, filled type by type, least recently used
 * dropped first. Nothing here is state a replica must share: each works the same table out.
 * Callers only ever see copies (copyGrant), so sharing can't leak one caller's change.
 */
function grantTable(facts: Facts): Map<string, Map<Access, TypeGrant>> {
  const { principal, options, breakGlass } = facts;
  const key = JSON.stringify([
    principal.roles,
    principal.scopes.resources.map((scope) => scope.raw),
    principal.fhirUser ?? null,
    principal.patient ?? null,
    options.providerScope,
    breakGlass,
  ]);
  let table = grantTables.get(key);
  if (table) {
    grantTables.delete(key); // re-inserted below: the Map's order is the recency order
  } else {
    table = new Map();
    if (grantTables.size >= GRANT_TABLES_KEPT) {
      grantTables.delete(grantTables.keys().next().value!);
    }
  }
  grantTables.set(key, table);
  return table;
}

function grantsFor(type: string, facts: Facts): Map<Access, TypeGrant> {
  const clinical = isInPatientCompartment(type);
  const shapes = new Map<Access, Shape>();
  for (const access of ACCESSES) {
    const reading = access === 'read' || access === 'search';
    const terms = termsFor({ ...facts, type, access, reading, clinical });
    if (terms.length > 0) shapes.set(access, combine(terms));
  }
  const grants = new Map<Access, TypeGrant>();
  for (const [access, shape] of shapes) {
    const same = [...shapes].filter(([, other]) => shapeKey(other) === shapeKey(shape));
    grants.set(access, { type, access: new Set(same.map(([a]) => a)), ...shape });
  }
  return grants;
}

function termsFor(ask: Ask): Term[] {
  const { type, access, principal } = ask;
  if (type === 'AuditEvent' && !ask.reading) return [];
  // Break-glass is for reading in an emergency: under it nothing may be written, so nothing
  // written under it can widen a later grant (an Appointment linking the patient, say).
  if (ask.breakGlass && !ask.reading) return [];
  const roleCompartments = principal.roles.flatMap((role) => roleCompartment(role, ask) ?? []);
  const terms: Term[] = [];
  for (const scope of principal.scopes.resources) {
    if (scope.type !== '*' && scope.type !== type) continue;
    if (!scope.interactions.has(INTERACTION[access])) continue;
    const scoped = scopeCompartment(scope, ask);
    if (!scoped) continue;
    // A backend service has no user, so no role to ask. A system/ scope in a token that does
    // carry a role came through a user's login: the user's role still limits it, as user/ would.
    const candidates =
      scope.context === 'system' && principal.roles.length === 0
        ? [scoped]
        : roleCompartments.flatMap((role) => intersect(scoped, role) ?? []);
    for (const compartment of candidates) {
      terms.push(scope.filter ? { compartment, filter: scope.filter } : { compartment });
    }
  }
  return terms;
}

/**
 * patient/ scopes need the `patient` launch claim and confine clinical data to it. On directory
 * types (outside the compartment) they read without restriction: that is how a SMART app shows
 * the practitioner or organization a patient's records point at. They never write directory
 * data, which isn't any patient's.
 */
function scopeCompartment(scope: ResourceScope, ask: Ask): Compartment | undefined {
  const patient = ask.principal.patient;
  if (scope.context !== 'patient') return ALL;
  if (patient === undefined) return undefined;
  if (ask.clinical) return { kind: 'patients', ids: [patient] };
  return ask.reading ? ALL : undefined;
}

function roleCompartment(role: Role, ask: Ask): Compartment | undefined {
  const { type, access, reading, clinical, principal, options, breakGlass } = ask;
  const user = principal.fhirUser;
  if (type === 'AuditEvent') return role === 'ADMIN' && reading ? ALL : undefined;
  switch (role) {
    case 'ADMIN':
      return ALL;
    case 'PROVIDER':
    case 'NURSE':
      if (!clinical) return reading ? ALL : undefined;
      if (options.providerScope === 'all' || (breakGlass && reading)) return ALL;
      return user?.type === 'Practitioner'
        ? { kind: 'practitioner-linked', practitioner: user.id }
        : undefined;
    case 'RECEPTIONIST':
    case 'STAFF':
      if (SCHEDULING.has(type)) return ALL;
      if (type === 'Patient') return access === 'delete' ? undefined : ALL;
      return reading && FRONT_DESK_DIRECTORY.has(type) ? ALL : undefined;
    case 'PATIENT': {
      if (!reading) return undefined;
      if (!clinical) return ALL;
      const own = ownPatientOf(principal);
      return own === undefined ? undefined : { kind: 'patients', ids: [own] };
    }
    case 'GUARDIAN':
      if (!reading) return undefined;
      if (!clinical) return ALL;
      return user?.type === 'RelatedPerson'
        ? { kind: 'guardian', relatedPerson: user.id }
        : undefined;
  }
}

/**
 * The patient a PATIENT-role user is: their fhirUser when it is a Patient. The launch `patient`
 * claim stands in only for a user with no fhirUser at all: a Practitioner or RelatedPerson who
 * also holds the PATIENT role (two Cognito groups, say) is the patient they are, never the one
 * a token names.
 */
export function ownPatientOf(principal: Principal): string | undefined {
  const user = principal.fhirUser;
  if (user) return user.type === 'Patient' ? user.id : undefined;
  return principal.patient;
}

/**
 * The narrower of a scope's compartment (all, or the launch patient) and a role's. The launch
 * patient is never taken on trust: a token's `patient` claim grants only what the user's role
 * reaches anyway. Between two patient lists (a PATIENT role) that is checked here; against a
 * practitioner's assignment or a guardianship it needs the database, so the compartment
 * carries the role's as `within` and the store checks membership in its query.
 */
function intersect(scoped: Compartment, role: Compartment): Compartment | undefined {
  if (scoped.kind === 'all') return role;
  if (role.kind === 'all') return scoped;
  if (scoped.kind === 'patients' && role.kind === 'patients') {
    const ids = scoped.ids.filter((id) => role.ids.includes(id));
    return ids.length > 0 ? { kind: 'patients', ids } : undefined;
  }
  if (scoped.kind === 'patients' && !scoped.within && role.kind !== 'patients') {
    return { ...scoped, within: role };
  }
  return undefined;
}

/**
 * A TypeGrant is (any compartment) AND (any filter), which can't express every union of terms:
 * `patient/Observation.rs` + `system/Observation.rs?category=vital-signs` is "this patient's
 * everything or anyone's vitals", and flattening it would give everyone's everything. When the
 * flat form would grant more than the terms, we keep a subset it can state exactly (the
 * unfiltered terms, else those sharing the first term's compartment): less access, never more.
 */
function combine(terms: Term[]): Shape {
  if (isExact(terms)) return flatten(terms);
  const unfiltered = terms.filter((term) => !term.filter);
  if (unfiltered.length > 0) return flatten(unfiltered);
  const first = compartmentKey(terms[0]!.compartment);
  return flatten(terms.filter((term) => compartmentKey(term.compartment) === first));
}

function flatten(terms: Term[]): Shape {
  const held = terms.map((term) => term.compartment);
  const compartments = uniqueBy(held, compartmentKey);
  const filtered = terms.flatMap((term) => term.filter ?? []);
  const filters = filtered.length < terms.length ? [] : uniqueBy(filtered, filterKey);
  const any = compartments.some((c) => c.kind === 'all');
  return { compartments: any ? [ALL] : compartments, filters };
}

/** True when every (compartment, filter) pair of the flat form is granted by some term. */
function isExact(terms: Term[]): boolean {
  const { compartments, filters } = flatten(terms);
  const wanted = filters.length > 0 ? filters : [undefined];
  return compartments.every((c) => wanted.every((f) => terms.some((t) => covers(t, c, f))));
}

function covers(term: Term, compartment: Compartment, filter?: URLSearchParams): boolean {
  const held = term.compartment;
  const wide =
    held.kind === 'all' ||
    compartmentKey(held) === compartmentKey(compartment) ||
    (held.kind === 'patients' &&
      compartment.kind === 'patients' &&
      (!held.within ||
        compartmentKey(held.within) === compartmentKey(compartment.within ?? held)) &&
      compartment.ids.every((id) => held.ids.includes(id)));
  return (
    wide && (!term.filter || (filter !== undefined && filterKey(term.filter) === filterKey(filter)))
  );
}

function compartmentKey(compartment: Compartment): string {
  if (compartment.kind === 'patients') {
    const { within } = compartment;
    return JSON.stringify({ kind: 'patients', ids: [...compartment.ids].sort(), within });
  }
  return JSON.stringify(compartment);
}

function filterKey(filter: URLSearchParams): string {
  const sorted = new URLSearchParams(filter);
  sorted.sort();
  return sorted.toString();
}

function shapeKey(shape: Shape): string {
  return JSON.stringify([shape.compartments.map(compartmentKey), shape.filters.map(filterKey)]);
}

function uniqueBy<T>(items: T[], key: (item: T) => string): T[] {
  const seen = new Map<string, T>();
  for (const item of items) if (!seen.has(key(item))) seen.set(key(item), item);
  return [...seen.values()];
}

/** Callers get their own copy, so a caller that mutates a grant can't widen the next one. */
function copyGrant(grant: TypeGrant | undefined): TypeGrant | undefined {
  if (!grant) return undefined;
  return {
    type: grant.type,
    access: new Set(grant.access),
    compartments: grant.compartments.map((c) =>
      c.kind === 'patients'
        ? { kind: 'patients', ids: [...c.ids], ...(c.within ? { within: { ...c.within } } : {}) }
        : { ...c },
    ),
    filters: grant.filters.map((filter) => new URLSearchParams(filter)),
  };
}
