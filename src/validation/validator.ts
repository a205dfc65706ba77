import type { Resource } from 'fhir/r4.js';
import type { IssueCode } from '../fhir/errors.js';

/** One validation finding. `expression` is a FHIRPath to the element, e.g. Patient.name[0].given[1]. */
export interface ValidationIssue {
  severity: 'error' | 'warning' | 'information';
  code: IssueCode;
  diagnostics: string;
  expression: string;
}

/**
 * Checks a resource against the R4 structure, the profiles that apply and their invariants.
 * Pure and synchronous; everything it needs is compiled once per process.
 */
export interface Validator {
  /** `profiles`: canonical URLs to check in addition to meta.profile and the type's defaults. */
  validate(resource: Resource, profiles?: string[]): ValidationIssue[];
}
