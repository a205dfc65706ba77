/**
 * The HealthLake data plane over node:http(s) with a keep-alive agent: every request signed,
 * bounded by a timeout, retried (jittered back-off) only when it is idempotent and HealthLake
 * throttled it, and every upstream failure turned into a FhirError the error handler can answer.
 */
import http from 'node:http';
import https from 'node:https';
import type { OperationOutcome, OperationOutcomeIssue } from 'fhir/r4.js';
import { FhirError, type IssueCode } from '../../fhir/errors.js';
import type { HealthLakeConfig } from './config.js';
import { wireQuery, type HealthLakeSigner } from './signer.js';

export interface UpstreamRequest {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Relative to the data store's base: 'Patient/1', 'Patient/_search', '' for the base. */
  path: string;
  query?: [string, string][];
  /** A FHIR resource (JSON) or, for POST _search, form parameters. */
  body?: unknown;
  form?: [string, string][];
  headers?: Record<string, string>;
  /** Safe to send again: reads, searches, PUT and DELETE. */
  idempotent: boolean;
}

export interface UpstreamResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: unknown;
}

const THROTTLED = new Set([429, 503]);
const BACKOFF_MS = 100;
const MAX_RETRY_AFTER_MS = 2_000;

class Timeout extends Error {}

export class HealthLakeClient {
  private readonly base: URL;
  private readonly agent: http.Agent;

  constructor(
    private readonly config: Pick<HealthLakeConfig, 'endpoint' | 'timeoutMs' | 'maxAttempts'>,
    private readonly signer: HealthLakeSigner,
  ) {
    this.base = new URL(config.endpoint);
    const Agent = this.base.protocol === 'https:' ? https.Agent : http.Agent;
    this.agent = new Agent({ keepAlive: true, maxSockets: 64 });
  }

  /** The data store's base URL (what HealthLake's own links start with). */
  get endpoint(): string {
    return this.config.endpoint;
  }

  async send(request: UpstreamRequest): Promise<UpstreamResponse> {
    for (let attempt = 1; ; attempt++) {
      const response = await this.once(request);
      if (response.status < 400) return response;
      const retry =
        request.idempotent && THROTTLED.has(response.status) && attempt < this.config.maxAttempts;
      if (!retry) throw upstreamError(response);
      await sleep(backoff(attempt, response.headers['retry-after']));
    }
  }

  private async once(request: UpstreamRequest): Promise<UpstreamResponse> {
    const path = `${this.base.pathname}${request.path}`;
    const query = request.query ?? [];
    const headers: Record<string, string> = { accept: 'application/fhir+json' };
    let body: Buffer | undefined;
    if (request.form) {
      body = Buffer.from(wireQuery(request.form));
      headers['content-type'] = 'application/x-www-form-urlencoded';
    } else if (request.body !== undefined) {
      body = Buffer.from(JSON.stringify(request.body));
      headers['content-type'] = 'application/fhir+json';
    }
    Object.assign(headers, request.headers);
    if (body) headers['content-length'] = String(body.length);
    const signed = await this.signer.sign({
      method: request.method,
      url: this.base,
      path,
      query,
      headers,
      body,
    });
    const search = query.length ? `?${wireQuery(query)}` : '';
    try {
      return await this.exchange(request.method, `${path}${search}`, signed, body);
    } catch (err) {
      if (err instanceof Timeout) {
        throw new FhirError(
          504,
          'timeout',
          `HealthLake did not answer within ${this.config.timeoutMs} ms`,
        );
      }
      if (err instanceof FhirError) throw err;
      throw new FhirError(502, 'transient', `HealthLake could not be reached (${codeOf(err)})`);
    }
  }

  private exchange(
    method: string,
    path: string,
    headers: Record<string, string>,
    body: Buffer | undefined,
  ): Promise<UpstreamResponse> {
    const transport = this.base.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = transport.request(
        {
          protocol: this.base.protocol,
          hostname: this.base.hostname,
          port: this.base.port || undefined,
          method,
          path,
          headers,
          agent: this.agent,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('error', reject);
          res.on('aborted', () => reject(new Error('ECONNRESET')));
          res.on('end', () => {
            clearTimeout(timer);
            try {
              resolve({ status: res.statusCode ?? 502, headers: res.headers, body: parse(chunks) });
            } catch (err) {
              reject(err);
            }
          });
        },
      );
      // One deadline from connect to the last byte: a slow trickle can't hold a request open.
      const timer = setTimeout(() => req.destroy(new Timeout()), this.config.timeoutMs);
      req.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

function parse(chunks: Buffer[]): unknown {
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new FhirError(502, 'transient', 'HealthLake answered with malformed JSON');
  }
}

function codeOf(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : 'connection failed';
}

function backoff(attempt: number, retryAfter: string | string[] | undefined): number {
  const seconds = Number(Array.isArray(retryAfter) ? retryAfter[0] : retryAfter);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.min(seconds * 1000, MAX_RETRY_AFTER_MS);
  // Full jitter: replicas throttled together don't come back together.
  return Math.random() * BACKOFF_MS * 2 ** (attempt - 1);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function isOutcome(body: unknown): body is OperationOutcome {
  return (
    typeof body === 'object' &&
    body !== null &&
    (body as { resourceType?: unknown }).resourceType === 'OperationOutcome' &&
    Array.isArray((body as OperationOutcome).issue)
  );
}

/**
 * 4xx with an OperationOutcome: HealthLake's verdict on the request, passed through with its
 * status. 5xx: 502 (the fault is upstream, not the client's). An AWS front-door refusal (403
 * with `{message}`: our signature or credentials) is our misconfiguration, so 502 as well,
 * naming the AWS error so an operator can act on it.
 */
export function upstreamError(response: UpstreamResponse): FhirError {
  const { status, body } = response;
  if (status < 500 && isOutcome(body) && status !== 401 && status !== 403) {
    const issues = body.issue as OperationOutcomeIssue[];
    const first = issues[0];
    return new FhirError(
      status,
      (first?.code ?? 'processing') as IssueCode,
      first?.diagnostics ?? `HealthLake answered ${status}`,
      undefined,
      {},
      issues,
    );
  }
  if (status === 401 || status === 403) {
    const type = String(response.headers['x-amzn-errortype'] ?? 'AccessDenied').split(':')[0];
    const message = (body as { message?: unknown; Message?: unknown } | undefined) ?? {};
    const text = String(message.message ?? message.Message ?? 'access denied');
    if (isOutcome(body)) {
      // HealthLake's own authorization (not the front door): still our credentials' problem.
      return new FhirError(502, 'security', `HealthLake refused the request: ${text}`);
    }
    return new FhirError(502, 'security', `HealthLake refused our credentials (${type}): ${text}`);
  }
  if (status === 429) {
    return new FhirError(
      429,
      'transient',
      'HealthLake is throttling requests; retry later',
      undefined,
      {
        'retry-after': '1',
      },
    );
  }
  if (status >= 500) return new FhirError(502, 'transient', `HealthLake failed (${status})`);
  return new FhirError(status, 'processing', `HealthLake refused the request (${status})`);
}
