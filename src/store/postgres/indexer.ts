import type { Resource } from 'fhir/r4.js';
import { emptyIndexValues, type IndexValues } from '../../search/extract.js';
import type { Sql } from '../../db/database.js';

/**
 * The seam for search: every write calls `index` in the write's transaction, with the stored
 * resource or undefined for a deletion, so search-parameter index tables stay in step.
 */
export interface ResourceIndexer {
  index(sql: Sql, type: string, id: string, resource: Resource | undefined): Promise<void>;
  /**
   * The values `index` would write, without writing them ($expunge finds a patient's compartment
   * members by them; AuditEvents no longer use them: their own table has columns instead).
   */
  extract(resource: Resource): IndexValues;
}

export const noIndexer: ResourceIndexer = {
  index: async () => undefined,
  extract: () => emptyIndexValues(),
};
