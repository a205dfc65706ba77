/**
 * How writes reach HealthLake. HealthLake can't join a Postgres transaction, so a unit of work
 * (one REST write with its AuditEvent, or a whole transaction Bundle) collects its writes
 * checked and stamped, and sends them upstream at the end, as one request: a single write as
 * itself, several as one HealthLake transaction Bundle, which applies all or none. Either way
 * nothing is half-applied.
 *
 * Versions are predicted (create: 1; update: current + 1) and guaranteed with If-Match, so the
 * ETag we answer is the one HealthLake assigned; the returned resources then take HealthLake's
 * own meta.
 */
import type { Bundle, BundleEntry, Resource } from 'fhir/r4.js';
import { FhirError } from '../../fhir/errors.js';
import type { HealthLakeClient } from './client.js';

export interface PendingWrite {
  kind: 'create' | 'update' | 'delete';
  type: string;
  id: string;
  /** The stamped resource returned to the caller; its meta is replaced by HealthLake's. */
  resource?: Resource;
  /** The version the write replaces (its If-Match upstream). */
  replaces?: string;
  /** The caller asked for If-Match itself: a mismatch is theirs (412), else a race (409). */
  callerIfMatch: boolean;
}

/**
 * In a transaction Bundle every replaced version is pinned with If-Match, so HealthLake applies
 * all of it to exactly what we checked, or none. A single write pins only what its caller asked
 * to: without If-Match a concurrent writer simply goes first, as with Postgres, and our answer
 * takes the version HealthLake assigned.
 */
function request(write: PendingWrite, pin: boolean) {
  const path = `${write.type}/${write.id}`;
  const ifMatch =
    write.replaces === undefined || !(pin || write.callerIfMatch)
      ? undefined
      : `W/"${write.replaces}"`;
  return { path, ifMatch };
}

/** What we predicted → what HealthLake assigned, to correct what was built from predictions. */
export interface Restamps {
  lastModified: Map<string, string>;
  /** Only for a single write: several writes may have predicted the same version. */
  version: { from: string; to: string } | undefined;
}

function adopt(write: PendingWrite, restamps: Restamps, versionId?: string, lastUpdated?: string) {
  const meta = write.resource?.meta;
  if (!meta) return;
  if (versionId && meta.versionId && versionId !== meta.versionId) {
    restamps.version = { from: meta.versionId, to: versionId };
    meta.versionId = versionId;
  }
  if (lastUpdated && meta.lastUpdated && lastUpdated !== meta.lastUpdated) {
    restamps.lastModified.set(meta.lastUpdated, lastUpdated);
    meta.lastUpdated = lastUpdated;
  }
}

/**
 * The unit's result (a REST result, a transaction-response Bundle) was built before the writes
 * landed: its `lastModified` values (Last-Modified headers, entry responses) take HealthLake's
 * times. Resources themselves were corrected in place.
 */
export function restampResult(value: unknown, restamps: Restamps, depth = 0): void {
  if (depth > 6 || typeof value !== 'object' || value === null) return;
  if (Array.isArray(value)) {
    for (const item of value) restampResult(item, restamps, depth + 1);
    return;
  }
  const record = value as Record<string, unknown>;
  const { version } = restamps;
  for (const [key, item] of Object.entries(record)) {
    if (typeof item === 'string') {
      if (key === 'lastModified' && restamps.lastModified.has(item)) {
        record[key] = restamps.lastModified.get(item);
      } else if (version && key === 'etag' && item === `W/"${version.from}"`) {
        record[key] = `W/"${version.to}"`;
      } else if (version && key === 'location' && item.endsWith(`/_history/${version.from}`)) {
        record[key] = `${item.slice(0, -version.from.length)}${version.to}`;
      }
    } else if (key !== 'resource') restampResult(item, restamps, depth + 1);
  }
}

function raced(err: unknown, writes: PendingWrite[]): unknown {
  if (!(err instanceof FhirError) || err.statusCode !== 412) return err;
  if (writes.some((w) => w.callerIfMatch)) return err;
  return new FhirError(409, 'conflict', 'The resource was changed concurrently; retry');
}

export async function flushWrites(
  client: HealthLakeClient,
  writes: PendingWrite[],
): Promise<Restamps> {
  const restamps: Restamps = { lastModified: new Map(), version: undefined };
  if (writes.length === 0) return restamps;
  try {
    if (writes.length === 1) await sendOne(client, writes[0]!, restamps);
    else await sendTransaction(client, writes, restamps);
    return restamps;
  } catch (err) {
    throw raced(err, writes);
  }
}

async function sendOne(client: HealthLakeClient, write: PendingWrite, restamps: Restamps) {
  const { path, ifMatch } = request(write, false);
  const headers: Record<string, string> = ifMatch ? { 'if-match': ifMatch } : {};
  if (write.kind === 'delete') {
    await client.send({ method: 'DELETE', path, headers, idempotent: true });
    return;
  }
  // Creates go as PUT with the id we chose, so the id (and a transaction's references to it)
  // is known before HealthLake answers; ids are random UUIDs, so this never lands on another.
  const response = await client.send({
    method: 'PUT',
    path,
    body: write.resource,
    headers,
    idempotent: true,
  });
  const stored = response.body as Resource | undefined;
  adopt(write, restamps, stored?.meta?.versionId, stored?.meta?.lastUpdated);
}

async function sendTransaction(
  client: HealthLakeClient,
  writes: PendingWrite[],
  restamps: Restamps,
) {
  const bundle: Bundle = {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: writes.map((write): BundleEntry => {
      const { path, ifMatch } = request(write, true);
      return {
        ...(write.resource ? { resource: write.resource as BundleEntry['resource'] } : {}),
        request: {
          method: write.kind === 'delete' ? 'DELETE' : 'PUT',
          url: path,
          ...(ifMatch ? { ifMatch } : {}),
        },
      };
    }),
  };
  // Not retried: a transaction is not idempotent, and a throttled one was not applied.
  const response = await client.send({ method: 'POST', path: '', body: bundle, idempotent: false });
  const answer = response.body as Bundle | undefined;
  if (answer?.resourceType !== 'Bundle' || (answer.entry?.length ?? 0) !== writes.length) {
    throw new FhirError(
      502,
      'transient',
      'HealthLake answered a transaction with an unexpected Bundle; its outcome is unknown',
    );
  }
  writes.forEach((write, index) => {
    const entry = answer.entry![index]!;
    const version = /(\d+)/.exec(entry.response?.etag ?? '')?.[1];
    adopt(
      write,
      // Versions were pinned with If-Match; a transaction never needs its etags corrected.
      { ...restamps, version: undefined },
      entry.resource?.meta?.versionId ?? version,
      entry.resource?.meta?.lastUpdated ?? entry.response?.lastModified,
    );
  });
}
