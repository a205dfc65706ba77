/** R4 IssueType codes we use (http://hl7.org/fhir/valueset-issue-type.html). */
export type IssueCode =
  | 'invalid'
  | 'structure'
  | 'required'
  | 'value'
  | 'invariant'
  | 'security'
  | 'login'
  | 'forbidden'
  | 'processing'
  | 'not-supported'
  | 'duplicate'
  | 'not-found'
  | 'deleted'
  | 'too-long'
  | 'too-costly'
  | 'conflict'
  | 'exception'
  | 'timeout'
  | 'transient'
  | 'informational';

import type { OperationOutcomeIssue } from 'fhir/r4.js';

/**
 * The one error type the REST layer throws. The error handler turns it into an
 * OperationOutcome with this status; nothing else formats error bodies.
 */
export class FhirError extends Error {
  readonly statusCode: number;
  readonly issueCode: IssueCode;
  readonly diagnostics: string;
  readonly expression: string[] | undefined;
  readonly headers: Record<string, string>;
  /** Every problem, when there are several (validation); else the one this error describes. */
  readonly issues: OperationOutcomeIssue[];

  constructor(
    statusCode: number,
    issueCode: IssueCode,
    diagnostics: string,
    expression?: string | string[],
    headers: Record<string, string> = {},
    issues?: OperationOutcomeIssue[],
  ) {
    super(diagnostics);
    this.name = 'FhirError';
    this.statusCode = statusCode;
    this.issueCode = issueCode;
    this.diagnostics = diagnostics;
    this.expression =
      expression === undefined ? undefined : Array.isArray(expression) ? expression : [expression];
    this.headers = headers;
    this.issues = issues ?? [
      {
        severity: 'error',
        code: issueCode,
        diagnostics,
        ...(this.expression ? { expression: this.expression } : {}),
      },
    ];
  }

  /** The same error reported at `path` (a Bundle entry), every issue prefixed with it. */
  at(path: string): FhirError {
    // The entry first, then where inside it (if the original issue said).
    const issues = this.issues.map((i) => ({
      ...i,
      diagnostics: `${path}: ${i.diagnostics ?? ''}`,
      expression: [path, ...(i.expression ?? [])],
    }));
    return new FhirError(
      this.statusCode,
      this.issueCode,
      `${path}: ${this.diagnostics}`,
      path,
      {},
      issues,
    );
  }
}

export const notFound = (type: string, id: string) =>
  new FhirError(404, 'not-found', `${type}/${id} is not known`);

export const gone = (type: string, id: string) =>
  new FhirError(410, 'deleted', `${type}/${id} has been deleted`);
