import type { AuditEvent, Resource } from 'fhir/r4.js';
import type { AccessPolicy } from '../auth/policy.js';
import type { PagePosition, SearchQuery } from '../search/query.js';

/** Who is asking, and what they may touch. */
export interface RequestContext {
  requestId: string;
  /**
   * The caller's grants, which the store turns into conditions of its own queries: what they
   * may not see is never fetched. `unrestricted` is the server itself (CLIs, seeding, tests of
   * the store), never a request.
   */
  access: Pick<AccessPolicy, 'grant'> | 'unrestricted';
}

export type WriteMethod = 'POST' | 'PUT' | 'DELETE';

/** One version of a resource as history keeps it. `resource` is absent for a deletion. */
export interface StoredVersion {
  resourceType: string;
  id: string;
  versionId: string;
  lastUpdated: string;
  method: WriteMethod;
  resource: Resource | undefined;
}

/** Keyset position in a history listing: entries strictly older than `seq`. */
export interface HistoryCursor {
  seq: string;
}

export interface HistoryQuery {
  /** Absent: the whole system. */
  type?: string;
  /** With type: one resource's history. */
  id?: string;
  count: number;
  /** Only versions updated at or after this instant. */
  since?: string;
  after?: HistoryCursor;
  /**
   * System history only: types left out (Binary, for a caller who may not reach every Binary).
   * A store that can't leave types out refuses such a caller's system history instead.
   */
  excludeTypes?: string[];
}

export interface HistoryPage {
  versions: StoredVersion[];
  total: number;
  next: HistoryCursor | undefined;
}

export interface SearchResult {
  matches: Resource[];
  /** Reached by _include/_revinclude, not matches themselves. */
  included: Resource[];
  /** Undefined with `_total=none`. */
  total: number | undefined;
  next: PagePosition | undefined;
  previous: PagePosition | undefined;
}

/** Where a page of a patient's compartment starts: after this member, in member order. */
export interface CompartmentPosition {
  type: string;
  id: string;
}

/** A page of one patient's compartment ($everything). */
export interface CompartmentQuery {
  patient: string;
  /** The member types to list; each is also held to the caller's search grant on it. */
  types: string[];
  /** Only members updated at or after this instant. */
  since?: string;
  count: number;
  /** Types of what members refer to that come along (held to the caller's read grant). */
  referenced: string[];
  after?: CompartmentPosition;
}

export interface CompartmentPage {
  /** The Patient first, then the rest by type and id. */
  members: Resource[];
  referenced: Resource[];
  next: CompartmentPosition | undefined;
}

/** A current resource as stored, its JSON text untouched (readAudited). */
export interface StoredText {
  json: string;
  versionId: string;
  lastUpdated: string;
}

export interface FhirStore {
  /** `id`: an id the server chose beforehand (transaction bundles resolving urn:uuid). */
  create(resource: Resource, ctx: RequestContext, id?: string): Promise<Resource>;
  /** If-None-Exist: no match → created; one → that one; more → 412. */
  conditionalCreate(
    resource: Resource,
    criteria: SearchQuery,
    ctx: RequestContext,
  ): Promise<{ resource: Resource; created: boolean }>;
  /** Conditional update: no match → create; one → update it; more → 412. */
  conditionalUpdate(
    resource: Resource,
    criteria: SearchQuery,
    ctx: RequestContext,
  ): Promise<{ resource: Resource; created: boolean }>;
  /** Conditional delete: no match → 404; one → deleted (and returned); more → 412. */
  conditionalDelete(criteria: SearchQuery, ctx: RequestContext): Promise<Resource>;
  search(query: SearchQuery, ctx: RequestContext, position?: PagePosition): Promise<SearchResult>;
  /** FhirError 404 when unknown, 410 when deleted. */
  read(type: string, id: string, ctx: RequestContext): Promise<Resource>;
  vread(type: string, id: string, versionId: string, ctx: RequestContext): Promise<Resource>;
  /** Update, or create with the client's id. `ifMatch` is a version id: mismatch → 412. */
  update(
    resource: Resource,
    ctx: RequestContext,
    ifMatch?: string,
  ): Promise<{ resource: Resource; created: boolean }>;
  /**
   * 404 when the resource never existed; a no-op when already deleted (undefined). Returns
   * the version it deleted, so the audit trail can name whose data it was.
   */
  delete(type: string, id: string, ctx: RequestContext): Promise<Resource | undefined>;
  history(query: HistoryQuery, ctx: RequestContext): Promise<HistoryPage>;
  /**
   * A page of a patient's compartment (R4 CompartmentDefinition, src/auth/compartment.ts), held
   * to the caller's grants. Absent on a store that can't list a compartment in one keyset order
   * (HealthLake): there `$everything` is refused.
   */
  compartment?(query: CompartmentQuery, ctx: RequestContext): Promise<CompartmentPage>;
  /**
   * Appends an AuditEvent to the audit trail, in this store's transaction when it is one (so it
   * commits or rolls back with the change it records), else in a transaction of its own that
   * has committed when the promise resolves.
   */
  audit(event: AuditEvent): Promise<AuditEvent>;
  /**
   * Optional: a read and its AuditEvent in one round trip. Reads the current resource under
   * the caller's read grant and appends `event` (the read's event; the store adds the patients
   * the resource refers to), committed when the promise resolves, and returns the stored JSON
   * text as is. Undefined when the resource is absent, deleted or outside the grant, with
   * nothing appended: the caller takes the ordinary path, which tells which and audits it.
   */
  readAudited?(
    type: string,
    id: string,
    ctx: RequestContext,
    event: AuditEvent,
  ): Promise<StoredText | undefined>;
  /** Runs `work` against a store whose writes commit or roll back together. */
  transaction<T>(work: (tx: FhirStore) => Promise<T>): Promise<T>;
  /** A random secret shared by every replica (signing paging cursors). */
  sharedSecret(name: string): Promise<Buffer>;
  /** Throws when the backing database is unreachable. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
