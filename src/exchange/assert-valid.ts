import type { Resource } from 'fhir/r4.js';
import { FhirError } from '../fhir/errors.js';
import type { Validator } from '../validation/validator.js';

/**
 * Refuses an invalid resource with 422 and every problem found, before anything is stored.
 * Warnings alone don't stop a write.
 */
export function assertValid(
  ex: { validator: Pick<Validator, 'validate'> },
  resource: Resource,
  profiles?: string[],
): void {
  const issues = ex.validator.validate(resource, profiles);
  const errors = issues.filter((issue) => issue.severity === 'error').length;
  if (!errors) return;
  throw new FhirError(
    422,
    'processing',
    `${resource.resourceType} is not valid: ${errors} error(s)`,
    undefined,
    {},
    issues.map((issue) => ({
      severity: issue.severity,
      code: issue.code,
      diagnostics: issue.diagnostics,
      expression: [issue.expression],
    })),
  );
}
