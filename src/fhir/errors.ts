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

  constructor(
    statusCode: number,
    issueCode: IssueCode,
    diagnostics: string,
    expression?: string | string[],
    headers: Record<string, string> = {},
  ) {
    super(diagnostics);
    this.name = 'FhirError';
    this.statusCode = statusCode;
    this.issueCode = issueCode;
    this.diagnostics = diagnostics;
    this.expression =
      expression === undefined ? undefined : Array.isArray(expression) ? expression : [expression];
    this.headers = headers;
  }
}

export const notFound = (type: string, id: string) =>
  new FhirError(404, 'not-found', `${type}/${id} is not known`);

export const gone = (type: string, id: string) =>
  new FhirError(410, 'deleted', `${type}/${id} has been deleted`);
