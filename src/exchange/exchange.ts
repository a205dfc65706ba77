import type { Resource } from 'fhir/r4.js';
import type { FhirStore, RequestContext } from '../store/store.js';
import type { AccessPolicy } from '../auth/policy.js';
import type { Validator } from '../validation/validator.js';

/**
 * What an interaction needs, whether it arrives as an HTTP request or as a Bundle entry: the
 * store (inside a transaction, for transaction bundles), who asks, and the public base URL.
 */
export interface Exchange {
  store: FhirStore;
  ctx: RequestContext;
  baseUrl: string;
  /** `Prefer: handling=strict`: refuse unknown parameters instead of ignoring them. */
  strict: boolean;
  /** Every resource is checked by it before anything is stored. */
  validator: Validator;
  /** What the caller's token and role allow. */
  policy: AccessPolicy;
  /** The caller's network address, for the audit trail. */
  address?: string;
  /** Where failures that can't reach the client are reported (the request's pino logger fits). */
  log?: ExchangeLog;
  /**
   * Inside a transaction Bundle: an entry's failure rolls the whole transaction back, so it is
   * audited once for the Bundle, after the rollback, not by the entry.
   */
  transactional?: boolean;
  /** Rewrites SSN search values to the tokens the index holds (src/identity/). */
  searchParams?: (params: URLSearchParams) => URLSearchParams;
  /** Seals SSNs in a resource a client sent, before it is validated or stored (src/identity/). */
  sealSsns?: <T>(resource: T) => T;
}

export interface ExchangeLog {
  error(details: object, message: string): void;
}

/** The outcome of one interaction, before it becomes an HTTP response or a Bundle entry. */
export interface InteractionResult {
  status: number;
  resource?: Resource;
  /** The resource as the store holds its JSON text, sent as is (no parse, no stringify). */
  json?: string;
  /** Absolute URL of the version written, on creates. */
  location?: string;
  etag?: string;
  lastModified?: string;
  /** What happened, for `Prefer: return=OperationOutcome` and batch entries. */
  summary?: string;
  /** The version a delete removed (the response shows nothing), for the audit trail. */
  deleted?: Resource;
}

export const etag = (versionId: string) => `W/"${versionId}"`;

/** The result of reading or writing one stored resource, with its version headers. */
export function resourceResult(
  status: number,
  resource: Resource,
  baseUrl: string,
  summary?: string,
): InteractionResult {
  const meta = resource.meta ?? {};
  return {
    status,
    resource,
    etag: meta.versionId ? etag(meta.versionId) : undefined,
    lastModified: meta.lastUpdated,
    location:
      status === 201
        ? `${baseUrl}/${resource.resourceType}/${resource.id}/_history/${meta.versionId}`
        : undefined,
    summary,
  };
}
