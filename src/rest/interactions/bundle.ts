import type { Bundle, BundleEntry } from 'fhir/r4.js';
import { FhirError } from '../../fhir/errors.js';
import type { ReturnPreference } from '../../fhir/prefer.js';
import { FormBody } from '../../http/content-negotiation.js';
import { errorEntry, isObject, planEntry, responseEntry, runEntry } from './bundle-entries.js';
import { processTransaction } from './bundle-transaction.js';
import { auditFailure } from '../../exchange/audited.js';
import type { Exchange, InteractionResult } from '../../exchange/exchange.js';

/** Past this many entries a Bundle is refused before any work: one request, bounded cost. */
export const MAX_BUNDLE_ENTRIES = 1000;

/** Where a batch reports entry failures it didn't expect (the request's pino logger fits). */
export interface BundleLog {
  error(details: object, message: string): void;
}

/**
 * A batch: every entry on its own, in order. An entry's failure is that entry's response;
 * an unexpected one is logged here and answered with a generic 500 that leaks nothing.
 */
async function processBatch(
  ex: Exchange,
  entries: unknown[],
  prefer: ReturnPreference,
  log: BundleLog | undefined,
): Promise<Bundle> {
  const responses: BundleEntry[] = [];
  for (const [index, raw] of entries.entries()) {
    try {
      const { request } = planEntry(raw, index);
      responses.push(responseEntry(ex, request, await runEntry(ex, request), prefer));
    } catch (error) {
      if (error instanceof FhirError) {
        responses.push(errorEntry(error));
        continue;
      }
      log?.error({ err: error, entry: index }, 'unexpected error in batch entry');
      responses.push(
        errorEntry(
          new FhirError(500, 'exception', `Internal server error (request ${ex.ctx.requestId})`),
        ),
      );
    }
  }
  return { resourceType: 'Bundle', type: 'batch-response', entry: responses };
}

/** The Bundle a client POSTs to the base: a batch or a transaction, nothing else. */
function bundleEntries(body: unknown): { type: 'batch' | 'transaction'; entries: unknown[] } {
  if (body instanceof FormBody) {
    throw new FhirError(415, 'not-supported', 'A Bundle must be sent as application/fhir+json');
  }
  if (!isObject(body) || body.resourceType !== 'Bundle') {
    throw new FhirError(
      400,
      'invalid',
      'POST to the base takes a Bundle of type batch or transaction',
      'resourceType',
    );
  }
  const { type, entry = [] } = body;
  if (type !== 'batch' && type !== 'transaction') {
    throw new FhirError(
      400,
      'not-supported',
      `A Bundle of type ${JSON.stringify(type ?? null)} can't be processed; send batch or transaction`,
      'Bundle.type',
    );
  }
  if (!Array.isArray(entry)) {
    throw new FhirError(400, 'structure', 'Bundle.entry must be an array', 'Bundle.entry');
  }
  if (entry.length > MAX_BUNDLE_ENTRIES) {
    throw new FhirError(
      400,
      'too-costly',
      `A Bundle may carry at most ${MAX_BUNDLE_ENTRIES} entries; this one has ${entry.length}. Split it.`,
      'Bundle.entry',
    );
  }
  return { type, entries: entry };
}

/**
 * `POST [base]` with a batch or transaction Bundle. Every entry runs through the same
 * interaction functions as the equivalent direct request; the response Bundle lists the
 * outcomes in request order. A failed transaction throws (the error handler answers it).
 */
export async function processBundle(
  ex: Exchange,
  body: unknown,
  prefer: ReturnPreference,
  log?: BundleLog,
): Promise<InteractionResult> {
  const { type, entries } = bundleEntries(body);
  if (type === 'batch')
    return { status: 200, resource: await processBatch(ex, entries, prefer, log) };
  try {
    return { status: 200, resource: await processTransaction(ex, entries, prefer) };
  } catch (error) {
    // Its entries' own AuditEvents rolled back with it: one event says it was tried and failed.
    await auditFailure(ex, { interaction: 'transaction' }, error);
    throw error;
  }
}
