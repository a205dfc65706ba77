import type { OperationOutcome, OperationOutcomeIssue } from 'fhir/r4.js';
import type { IssueCode } from './errors.js';

export type Severity = OperationOutcomeIssue['severity'];

export function issue(
  severity: Severity,
  code: IssueCode,
  diagnostics: string,
  expression?: string[],
): OperationOutcomeIssue {
  return expression?.length
    ? { severity, code, diagnostics, expression }
    : { severity, code, diagnostics };
}

export function operationOutcome(issues: OperationOutcomeIssue[]): OperationOutcome {
  return { resourceType: 'OperationOutcome', issue: issues };
}

export function informational(diagnostics: string): OperationOutcome {
  return operationOutcome([issue('information', 'informational', diagnostics)]);
}
