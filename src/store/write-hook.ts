import type { Resource } from 'fhir/r4.js';
import type { Sql } from '../db/database.js';
import type { FhirStore } from './store.js';

/**
 * Domain rules that follow a write in its own transaction (the appointment ledger, say): called
 * after the resource is stored and indexed, with the version it replaced. A hook that throws
 * undoes the write. `store` runs in the same transaction, unrestricted: hooks act for the
 * server, not the caller.
 */
export interface WriteHook {
  /**
   * Before a version is stamped and stored (not for deletions): returns the resource to store
   * instead, e.g. with server-assigned identifiers. `previous` is the version it replaces.
   */
  beforeWrite?(
    tx: { sql: Sql; store: FhirStore },
    type: string,
    id: string,
    resource: Resource,
    previous: Resource | undefined,
  ): Promise<Resource>;
  /**
   * Before a deletion is written, while the resource is still current and indexed (so a search
   * can still find it): `previous` is the version being deleted.
   */
  beforeDelete?(
    tx: { sql: Sql; store: FhirStore },
    type: string,
    id: string,
    previous: Resource | undefined,
  ): Promise<void>;
  afterWrite(
    tx: { sql: Sql; store: FhirStore },
    type: string,
    id: string,
    resource: Resource | undefined,
    previous: Resource | undefined,
  ): Promise<void>;
}
