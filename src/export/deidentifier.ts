import type { Resource } from 'fhir/r4.js';

/**
 * One export's de-identification: a pure transform per resource, applied by the export worker
 * to every resource before it is written to an output file. Implementations: safe-harbor.ts.
 */
export interface Deidentifier {
  /** The method's name as the export status lists it, e.g. 'safe-harbor'. */
  readonly method: string;
  /** The de-identified copy of a resource (pseudonymous id and references), or undefined to leave it out. */
  apply(resource: Resource): Resource | undefined;
  /** What the method removes or generalizes, as categories without values, for the job's status. */
  describe(): string[];
}
