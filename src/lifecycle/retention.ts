/**
 * The retention purge. A resource is due when its type has a retention period and its last
 * update (a deletion counts) is older than that, unless it is under legal hold (legal-hold.ts).
 * The dry run and the real run select with the same query at the same instant, so what the dry
 * run lists is what the real run removes (the real run also locks the rows it selects, so a
 * resource updated meanwhile is no longer due and stays). AuditEvents go through the audit
 * purge (src/audit/purge.ts), which keeps the hash chain verifiable.
 */
import type { AuditEvent } from 'fhir/r4.js';
import { DCM, purgeAudit, type PurgeResult } from '../audit/purge.js';
import { ENTITY_TYPE, OBJECT_ROLE, TELEFHIR_SOURCE } from '../audit/event.js';
import { appendAudit } from '../audit/writer.js';
import type { BlobStore } from '../blob/blob-store.js';
import { deleteQueuedBlobs, queueBlobDeletions } from './blob-deletions.js';
import type { Database, Sql } from '../db/database.js';
import { eraseResources, type ResourceKey } from '../store/postgres/erase.js';
import { dueRows } from '../store/postgres/retention-due.js';
import { cutoffOf, type RetentionPolicy } from './retention-policy.js';

export interface DueResource extends ResourceKey {
  deleted: boolean;
  lastUpdated: string;
}

export interface RetentionRun {
  now: Date;
  due: DueResource[];
  /** Blobs of purged Binaries whose deletion failed (the resources are gone; bytes orphaned). */
  blobFailures: string[];
  audit: PurgeResult;
}

export interface RetentionOptions {
  dryRun: boolean;
  /** Who ran it; the summary AuditEvent names them. */
  actor: string;
  now?: Date;
  /** Needed when Binaries are due; without it, due Binaries make the run fail before anything. */
  blobs?: BlobStore;
}

/** The due resources, oldest type first; `lock` takes row locks (the real run). */
export async function selectDue(
  sql: Sql,
  policy: RetentionPolicy,
  now: Date,
  lock = false,
): Promise<DueResource[]> {
  const types: string[] = [];
  const cutoffs: string[] = [];
  for (const [type, retention] of policy.types) {
    const cutoff = cutoffOf(retention, now);
    if (cutoff) {
      types.push(type);
      cutoffs.push(cutoff.toISOString());
    }
  }
  if (!types.length) return [];
  const rows = await dueRows(sql, types, cutoffs, lock);
  return rows.map((row) => ({
    type: row.resource_type,
    id: row.id,
    deleted: row.deleted,
    lastUpdated: new Date(row.last_updated).toISOString(),
  }));
}

/** DICOM "Patient Record" (110110), action D: what went, by type, and under which policy. */
function summaryEvent(
  actor: string,
  now: Date,
  due: DueResource[],
  policy: RetentionPolicy,
): AuditEvent {
  const counts = new Map<string, number>();
  for (const item of due) counts.set(item.type, (counts.get(item.type) ?? 0) + 1);
  return {
    resourceType: 'AuditEvent',
    type: { system: DCM, code: '110110', display: 'Patient Record' },
    subtype: [{ system: 'http://telefhir.dev/fhir/CodeSystem/lifecycle', code: 'retention-purge' }],
    action: 'D',
    recorded: now.toISOString(),
    outcome: '0',
    agent: [{ who: { identifier: { value: actor } }, requestor: true }],
    source: TELEFHIR_SOURCE,
    entity: [...counts].map(([type, count]) => ({
      what: { identifier: { value: type } },
      type: { system: ENTITY_TYPE, code: '2', display: 'System Object' },
      role: { system: OBJECT_ROLE, code: '4', display: 'Domain Resource' },
      name: `retention purge of ${type}`,
      detail: [
        { type: 'purged-count', valueString: String(count) },
        { type: 'retention', valueString: String(policy.types.get(type)) },
      ],
    })),
  };
}

/**
 * Lists (dry run) or removes the due resources in one transaction with the summary AuditEvent,
 * then deletes the purged Binaries' bytes (after the commit: a blob is never gone while a
 * resource still names it), then runs the audit purge.
 */
export async function runRetention(
  db: Database,
  policy: RetentionPolicy,
  opts: RetentionOptions,
): Promise<RetentionRun> {
  const now = opts.now ?? new Date();
  const auditCutoff = cutoffOf(policy.audit, now);
  const purgeAuditEvents = (): Promise<PurgeResult> =>
    auditCutoff
      ? purgeAudit(db, auditCutoff, { dryRun: opts.dryRun, actor: opts.actor })
      : Promise.resolve({ purged: 0 });
  if (opts.dryRun) {
    const due = await selectDue(db, policy, now);
    return { now, due, blobFailures: [], audit: await purgeAuditEvents() };
  }
  const { due, blobKeys } = await db.transaction(async (sql) => {
    const due = await selectDue(sql, policy, now, true);
    const erased = await eraseResources(sql, due);
    if (erased.blobKeys.length && !opts.blobs) {
      throw new Error('Binaries are due but no blob store was given; nothing was purged');
    }
    await queueBlobDeletions(sql, erased.blobKeys);
    await appendAudit(sql, summaryEvent(opts.actor, now, due, policy));
    return { due, blobKeys: erased.blobKeys };
  });
  // After the commit: this run's bytes, and any an earlier run or $expunge failed to delete.
  const blobFailures = opts.blobs ? await deleteQueuedBlobs(db, opts.blobs) : blobKeys;
  return { now, due, blobFailures, audit: await purgeAuditEvents() };
}

/** What the CLI prints: one line per resource, then the totals. Ids only, never content. */
export function describeRun(run: RetentionRun, dryRun: boolean): string[] {
  const verb = dryRun ? 'would purge' : 'purged';
  const lines = run.due.map(
    (item) =>
      `${verb} ${item.type}/${item.id} (${item.deleted ? 'deleted' : 'last updated'} ${item.lastUpdated})`,
  );
  lines.push(`${verb} ${run.due.length} resources and ${run.audit.purged} audit events`);
  for (const key of run.blobFailures)
    lines.push(`could not delete blob ${key}; it stays queued and the next purge retries it`);
  return lines;
}
