import { randomUUID } from 'node:crypto';
import type { Bundle, BundleEntry } from 'fhir/r4.js';
import { FhirError } from '../../fhir/errors.js';
import type { ReturnPreference } from '../../fhir/prefer.js';
import { parseEntryUrl } from '../dispatch.js';
import {
  entryPath,
  planEntry,
  responseEntry,
  runEntry,
  type PlannedEntry,
} from './bundle-entries.js';
import {
  isPlaceholder,
  resolveCriteria,
  resolveReferences,
  resolveUrl,
  type Resolve,
} from './bundle-references.js';
import type { Exchange, InteractionResult } from '../../exchange/exchange.js';
import { createResource } from './write.js';

interface TransactionEntry extends PlannedEntry {
  /** The request URL's path: `[Type]` or `[Type, id, ...]`. */
  segments: string[];
  /** Its target is found by search (If-None-Exist, `PUT/DELETE Type?...`), not named. */
  conditional: boolean;
  /** For a POST whose fullUrl is a placeholder: the id the server chose for it up front. */
  assignedId?: string;
}

/** What the transaction knows about its placeholders while it runs. */
interface Placeholders {
  resolved: Map<string, string>;
  /** Placeholders of conditional entries: their ids are known only once those have run. */
  later: Set<string>;
}

/** A failure inside the transaction, saying which entry failed; the whole transaction fails. */
function atEntry(index: number, error: unknown): unknown {
  if (!(error instanceof FhirError)) return error;
  return error.at(entryPath(index));
}

function analyse(ex: Exchange, planned: PlannedEntry): TransactionEntry {
  const { request, index } = planned;
  const at = `${entryPath(planned.index)}.request.url`;
  if (isPlaceholder(request.url)) {
    throw new FhirError(
      400,
      'invalid',
      `${at}: a placeholder (${request.url}) can only be an entry's fullUrl; ` +
        'POST with it as fullUrl, or PUT to Type/id',
      at,
    );
  }
  let segments: string[];
  try {
    segments = parseEntryUrl(request.url, ex.baseUrl).segments;
  } catch (error) {
    throw atEntry(index, error);
  }
  const conditional =
    request.method === 'POST' ? request.ifNoneExist !== undefined : segments.length === 1;
  return { ...planned, segments, conditional };
}

/** Only writes carry resources whose references matter; a GET's stray body is ignored anyway. */
const carriesResource = (entry: TransactionEntry) =>
  ['POST', 'PUT', 'PATCH'].includes(entry.request.method);

/**
 * Gives every placeholder fullUrl its `Type/id` before anything runs, so entries may refer to
 * each other in any order. A plain create gets a fresh id; a PUT to `Type/id` is that id;
 * a conditional entry's id is learnt when it runs.
 */
function mapPlaceholders(entries: TransactionEntry[]): Placeholders {
  const resolved = new Map<string, string>();
  const later = new Set<string>();
  const seen = new Map<string, number>();
  for (const entry of entries) {
    const { fullUrl, segments } = entry;
    if (fullUrl === undefined) continue;
    const first = seen.get(fullUrl);
    const at = `${entryPath(entry.index)}.fullUrl`;
    if (first !== undefined) {
      throw new FhirError(
        400,
        'duplicate',
        `${at} ${fullUrl} repeats the fullUrl of ${entryPath(first)}`,
        at,
      );
    }
    seen.set(fullUrl, entry.index);
    if (!isPlaceholder(fullUrl) || !carriesResource(entry)) continue;
    if (entry.conditional) {
      later.add(fullUrl);
    } else if (entry.request.method === 'POST' && segments.length === 1) {
      entry.assignedId = randomUUID();
      resolved.set(fullUrl, `${segments[0]}/${entry.assignedId}`);
    } else if (entry.request.method === 'PUT' && segments.length === 2) {
      resolved.set(fullUrl, segments.join('/'));
    }
  }
  return { resolved, later };
}

/** The resource an entry names in its URL, when it changes one. */
function namedTarget(entry: TransactionEntry): string | undefined {
  const [, id] = entry.segments;
  const writes = ['PUT', 'PATCH', 'DELETE'].includes(entry.request.method);
  return writes && entry.segments.length === 2 && !id!.startsWith('_')
    ? entry.segments.join('/')
    : undefined;
}

/** The spec makes a transaction that changes one resource twice an error, not a sequence. */
function claimTargets(entries: TransactionEntry[]): Map<string, number> {
  const claimed = new Map<string, number>();
  for (const entry of entries) {
    const target = namedTarget(entry);
    if (target === undefined) continue;
    const first = claimed.get(target);
    if (first !== undefined) {
      const at = entryPath(entry.index);
      throw new FhirError(
        400,
        'duplicate',
        `${at} and ${entryPath(first)} both change ${target}; a transaction changes each resource once`,
        at,
      );
    }
    claimed.set(target, entry.index);
  }
  return claimed;
}

/**
 * The spec's order: DELETE, POST, PUT/PATCH, then GET/HEAD, so reads see the transaction's
 * writes. Conditional creates go first among the POSTs, so that plain creates may refer to
 * them; ties keep request order.
 */
function rank(entry: TransactionEntry): number {
  switch (entry.request.method) {
    case 'DELETE':
      return 0;
    case 'POST':
      return entry.conditional ? 1 : 2;
    case 'PUT':
    case 'PATCH':
      return 3;
    default:
      return 4;
  }
}

function resolverFor(placeholders: Placeholders): Resolve {
  return (placeholder) => {
    const target = placeholders.resolved.get(placeholder);
    if (target !== undefined) return target;
    throw new FhirError(
      400,
      'not-found',
      placeholders.later.has(placeholder)
        ? `${placeholder} belongs to a conditional entry that runs after this one, so its id is not known yet`
        : `${placeholder} is not the fullUrl of any entry in this transaction`,
    );
  };
}

async function runTransactionEntry(
  ex: Exchange,
  entry: TransactionEntry,
  resolve: Resolve,
): Promise<InteractionResult> {
  const { request } = entry;
  const resolved = {
    ...request,
    url: resolveUrl(request.url, resolve),
    body: carriesResource(entry) ? resolveReferences(request.body, resolve) : request.body,
    ifNoneExist:
      request.ifNoneExist === undefined ? undefined : resolveCriteria(request.ifNoneExist, resolve),
  };
  if (entry.assignedId !== undefined) {
    return createResource(ex, entry.segments[0]!, resolved.body, undefined, entry.assignedId);
  }
  return runEntry(ex, resolved);
}

/**
 * What a conditional entry turned out to touch: its placeholder now resolves, and it must not
 * be a resource another entry changes.
 */
function learn(
  entry: TransactionEntry,
  result: InteractionResult,
  placeholders: Placeholders,
  claimed: Map<string, number>,
) {
  const { resource } = result;
  if (!entry.conditional || !resource?.id || !carriesResource(entry)) return;
  const target = `${resource.resourceType}/${resource.id}`;
  if (entry.fullUrl && placeholders.later.has(entry.fullUrl)) {
    placeholders.resolved.set(entry.fullUrl, target);
  }
  const other = claimed.get(target);
  if (other !== undefined && other !== entry.index) {
    throw new FhirError(
      400,
      'duplicate',
      `its criteria found ${target}, which ${entryPath(other)} also changes`,
    );
  }
  claimed.set(target, entry.index);
}

/**
 * A transaction: every entry succeeds, in one database transaction, or none leaves a trace
 * and the client hears which entry failed and why.
 */
export async function processTransaction(
  ex: Exchange,
  rawEntries: unknown[],
  prefer: ReturnPreference,
): Promise<Bundle> {
  const entries = rawEntries.map((raw, index) => analyse(ex, planEntry(raw, index)));
  const placeholders = mapPlaceholders(entries);
  const claimed = claimTargets(entries);
  const order = [...entries].sort((a, b) => rank(a) - rank(b) || a.index - b.index);
  const resolve = resolverFor(placeholders);

  return ex.store.transaction(async (tx) => {
    const txEx: Exchange = { ...ex, store: tx, transactional: true };
    const responses: BundleEntry[] = new Array<BundleEntry>(entries.length);
    for (const entry of order) {
      try {
        const result = await runTransactionEntry(txEx, entry, resolve);
        learn(entry, result, placeholders, claimed);
        responses[entry.index] = responseEntry(txEx, entry.request, result, prefer);
      } catch (error) {
        throw atEntry(entry.index, error);
      }
    }
    return { resourceType: 'Bundle', type: 'transaction-response', entry: responses };
  });
}
