/**
 * The job model of Bulk Data $export: rows of `export_job` and `export_file` in the workflow
 * database (migrations/workflow/003_bulk_export.sql). Every replica sees the same jobs; a
 * worker claims one with FOR UPDATE SKIP LOCKED and holds it by a lease it renews, and every
 * step forward (a file written, the job finished) is one UPDATE guarded by that lease, so a
 * worker that lost its lease (it stalled, another replica took over) changes nothing.
 */
import type { Database, Sql } from '../db/database.js';
import type { JobOwner } from './owner.js';

export type ExportLevel = 'system' | 'patient' | 'group';
export type JobState = 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';

/** The claims the caller's policy is rebuilt from (never the token, never its signature). */
export interface GrantFacts {
  sub?: string;
  client_id?: string;
  scope?: string;
  role?: string[];
  patient?: string;
  fhirUser?: string;
  /** Ownership (owner.ts), not read by the policy: the issuer and the grant's fingerprint. */
  iss?: string;
  fingerprint?: string;
}

/** The ownership predicate on export_job, parameters from $2 (after the id). */
const OWNED = `client_id = $2 AND subject = $3 AND grant_facts->>'iss' = $4
  AND grant_facts->>'fingerprint' = $5`;
const owned = (owner: JobOwner) => [owner.clientId, owner.subject, owner.issuer, owner.fingerprint];

/** Where a worker resumes: a type, a member of the patient list, and a keyset position. */
export interface JobPosition {
  type?: number;
  member?: number;
  after?: unknown;
}

export interface NewJob {
  id: string;
  clientId: string;
  subject: string;
  grantFacts: GrantFacts;
  level: ExportLevel;
  groupId?: string;
  patients?: string[];
  types: string[];
  typeFilters: Record<string, string>;
  since?: string;
  requestUrl: string;
  /** When the export's data is as of (Group membership was judged at it); default now. */
  transactionTime?: string;
  deidentify?: string;
  retentionHours: number;
}

export interface Job {
  id: string;
  clientId: string;
  subject: string;
  grantFacts: GrantFacts;
  level: ExportLevel;
  groupId: string | null;
  patients: string[] | null;
  types: string[];
  typeFilters: Record<string, string>;
  since: string | null;
  requestUrl: string;
  deidentify: string | null;
  state: JobState;
  transactionTime: string;
  position: JobPosition;
  filesDone: number;
  resourcesDone: number;
  attempts: number;
  pendingBlob: string | null;
  failure: string | null;
}

export interface ExportFile {
  seq: number;
  kind: 'output' | 'error';
  resourceType: string;
  blobKey: string;
  count: number;
}

interface JobRow {
  id: string;
  client_id: string;
  subject: string;
  grant_facts: GrantFacts | string;
  level: ExportLevel;
  group_id: string | null;
  patients: string[] | null;
  types: string[];
  type_filters: Record<string, string> | string;
  since: Date | string | null;
  request_url: string;
  deidentify: string | null;
  state: JobState;
  transaction_time: Date | string;
  position: JobPosition | string;
  files_done: number;
  resources_done: string | number;
  attempts: number;
  pending_blob: string | null;
}

const json = <T>(value: T | string): T =>
  typeof value === 'string' ? (JSON.parse(value) as T) : value;
const instant = (value: Date | string) => new Date(value).toISOString();

function jobOf(row: JobRow & { failure?: string | null }): Job {
  return {
    id: row.id,
    clientId: row.client_id,
    subject: row.subject,
    grantFacts: json(row.grant_facts),
    level: row.level,
    groupId: row.group_id,
    patients: row.patients,
    types: row.types,
    typeFilters: json(row.type_filters),
    since: row.since === null ? null : instant(row.since),
    requestUrl: row.request_url,
    deidentify: row.deidentify,
    state: row.state,
    transactionTime: instant(row.transaction_time),
    position: json(row.position),
    filesDone: row.files_done,
    resourcesDone: Number(row.resources_done),
    attempts: row.attempts,
    pendingBlob: row.pending_blob,
    failure: row.failure ?? null,
  };
}

const LIVE = `expires_at > now()`;

export class ExportJobs {
  constructor(readonly db: Database) {}

  /**
   * Creates the job unless its caller (issuer, client, subject) already has `maxActive` queued
   * or running: counted and inserted in one transaction under an advisory lock on the caller,
   * so simultaneous kick-offs can't both get past the cap. False when at the cap.
   */
  async create(job: NewJob, maxActive: number): Promise<boolean> {
    const issuer = job.grantFacts.iss ?? '';
    return this.db.transaction(async (sql) => {
      await sql.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 31))', [
        JSON.stringify(['export_job', issuer, job.clientId, job.subject]),
      ]);
      if (
        (await activeJobs(sql, { issuer, clientId: job.clientId, subject: job.subject })) >=
        maxActive
      ) {
        return false;
      }
      await sql.query(
        `INSERT INTO export_job (id, client_id, subject, grant_facts, level, group_id, patients,
         types, type_filters, since, request_url, deidentify, state, expires_at, transaction_time)
       VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7::text[], $8::text[], $9::jsonb, $10::timestamptz,
         $11, $12, 'queued', now() + make_interval(hours => $13::int),
         COALESCE($14::timestamptz, now()))`,
        [
          job.id,
          job.clientId,
          job.subject,
          JSON.stringify(job.grantFacts),
          job.level,
          job.groupId ?? null,
          job.patients ?? null,
          job.types,
          JSON.stringify(job.typeFilters),
          job.since ?? null,
          job.requestUrl,
          job.deidentify ?? null,
          job.retentionHours,
          job.transactionTime ?? null,
        ],
      );
      return true;
    });
  }

  /** A live (unexpired) job of this owner (same grant); anyone else's is as absent. */
  async find(id: string, owner: JobOwner): Promise<Job | undefined> {
    const rows = await this.db.query<JobRow>(
      `SELECT * FROM export_job WHERE id = $1 AND ${OWNED} AND ${LIVE}`,
      [id, ...owned(owner)],
    );
    return rows[0] && jobOf(rows[0]);
  }

  async files(id: string): Promise<ExportFile[]> {
    const rows = await this.db.query<{
      seq: number;
      kind: 'output' | 'error';
      resource_type: string;
      blob_key: string;
      count: number;
    }>(
      `SELECT seq, kind, resource_type, blob_key, count FROM export_file WHERE job_id = $1
       ORDER BY seq`,
      [id],
    );
    return rows.map((row) => ({
      seq: row.seq,
      kind: row.kind,
      resourceType: row.resource_type,
      blobKey: row.blob_key,
      count: row.count,
    }));
  }

  async file(id: string, seq: number): Promise<ExportFile | undefined> {
    return (await this.files(id)).find((file) => file.seq === seq);
  }

  /**
   * Cancels (and forgets) a job: its rows go, its blobs are queued for deletion in the same
   * transaction. True when there was such a job.
   */
  async cancel(id: string, owner: JobOwner): Promise<boolean> {
    return this.db.transaction(async (sql) => {
      const rows = await sql.query<{ pending_blob: string | null }>(
        `SELECT pending_blob FROM export_job
         WHERE id = $1 AND ${OWNED} AND ${LIVE} FOR UPDATE`,
        [id, ...owned(owner)],
      );
      if (!rows[0]) return false;
      await forget(sql, `id = $1`, [id]);
      return true;
    });
  }

  /**
   * Claims a job no live worker holds: queued, or running under a lease that ran out (its
   * worker died). Fair between callers: the job of the caller (issuer, client, subject) with
   * the fewest jobs leased right now, then the oldest, so one caller's many jobs don't hold up
   * everyone else's. SKIP LOCKED: replicas claiming at once each get a different job.
   */
  async claim(worker: string, leaseMs: number): Promise<Job | undefined> {
    const rows = await this.db.query<JobRow>(
      `UPDATE export_job SET state = 'running', worker = $1, attempts = attempts + 1,
         lease_until = now() + make_interval(secs => $2::double precision / 1000)
       WHERE id = (
         SELECT id FROM export_job
         WHERE state IN ('queued', 'running') AND (lease_until IS NULL OR lease_until < now())
           AND ${LIVE}
         ORDER BY (
             SELECT count(*) FROM export_job held
             WHERE held.client_id = export_job.client_id AND held.subject = export_job.subject
               AND held.grant_facts->>'iss' = export_job.grant_facts->>'iss'
               AND held.state = 'running' AND held.lease_until >= now()
           ), created_at
         LIMIT 1 FOR UPDATE SKIP LOCKED)
       RETURNING *`,
      [worker, leaseMs],
    );
    return rows[0] && jobOf(rows[0]);
  }

  /** Renews the lease; false when it is no longer this worker's (cancelled, expired, taken). */
  async renew(id: string, worker: string, leaseMs: number): Promise<boolean> {
    const rows = await this.db.query(
      `UPDATE export_job SET lease_until = now() + make_interval(secs => $3::double precision / 1000)
       WHERE id = $1 AND worker = $2 AND state = 'running' RETURNING id`,
      [id, worker, leaseMs],
    );
    return rows.length === 1;
  }

  /** Names the blob about to be written, so a worker resuming after a crash removes it. */
  async pending(id: string, worker: string, key: string | null): Promise<boolean> {
    const rows = await this.db.query(
      `UPDATE export_job SET pending_blob = $3 WHERE id = $1 AND worker = $2 AND state = 'running'
       RETURNING id`,
      [id, worker, key],
    );
    return rows.length === 1;
  }

  /**
   * Records a finished file and moves the position past its last resource, together: false
   * (and nothing recorded) when the lease is no longer this worker's.
   */
  async recordFile(
    id: string,
    worker: string,
    file: Omit<ExportFile, 'seq'> | undefined,
    position: JobPosition,
  ): Promise<boolean> {
    return this.db.transaction(async (sql) => {
      const rows = await sql.query<{ files_done: number }>(
        `UPDATE export_job SET position = $3::jsonb, pending_blob = NULL,
           files_done = files_done + $4::int, resources_done = resources_done + $5::int
         WHERE id = $1 AND worker = $2 AND state = 'running' RETURNING files_done`,
        [
          id,
          worker,
          JSON.stringify(position),
          file ? 1 : 0,
          file?.kind === 'output' ? file.count : 0,
        ],
      );
      if (!rows[0]) return false;
      if (file) {
        await sql.query(
          `INSERT INTO export_file (job_id, seq, kind, resource_type, blob_key, count)
           VALUES ($1, $2, $3, $4, $5, $6)`,
          [id, rows[0].files_done, file.kind, file.resourceType, file.blobKey, file.count],
        );
      }
      return true;
    });
  }

  /** The job completed; false when the lease is no longer this worker's. */
  async complete(id: string, worker: string): Promise<boolean> {
    const rows = await this.db.query(
      `UPDATE export_job SET state = 'completed', worker = NULL, lease_until = NULL,
         finished_at = now()
       WHERE id = $1 AND worker = $2 AND state = 'running' RETURNING id`,
      [id, worker],
    );
    return rows.length === 1;
  }

  /**
   * Marks the job failed and lets go of what it wrote: its files (and a blob half written) are
   * queued for deletion and unlisted in the same transaction, so nothing of a failed export
   * stays downloadable or waits for the job's expiry. False when the lease is not this worker's.
   */
  async fail(id: string, worker: string, failure: string): Promise<boolean> {
    return this.db.transaction(async (sql) => {
      const rows = await sql.query(
        `SELECT id FROM export_job WHERE id = $1 AND worker = $2 AND state = 'running' FOR UPDATE`,
        [id, worker],
      );
      if (!rows[0]) return false;
      await sql.query(
        `INSERT INTO export_blob_deletion (blob_key)
         SELECT blob_key FROM export_file WHERE job_id = $1
         UNION SELECT pending_blob FROM export_job WHERE id = $1 AND pending_blob IS NOT NULL
         ON CONFLICT DO NOTHING`,
        [id],
      );
      await sql.query(`DELETE FROM export_file WHERE job_id = $1`, [id]);
      await sql.query(
        `UPDATE export_job SET state = 'failed', failure = $2, worker = NULL, lease_until = NULL,
           pending_blob = NULL, finished_at = now()
         WHERE id = $1`,
        [id, failure],
      );
      return true;
    });
  }

  /** Gives a job back (this worker stops early): the next claim resumes it. */
  async release(id: string, worker: string): Promise<void> {
    await this.db.query(
      `UPDATE export_job SET lease_until = NULL, worker = NULL
       WHERE id = $1 AND worker = $2 AND state = 'running'`,
      [id, worker],
    );
  }

  /** Expired jobs are forgotten; their blobs are queued for deletion. How many were. */
  async expire(): Promise<number> {
    return this.db.transaction((sql) => forget(sql, `expires_at <= now()`, []));
  }

  /** Blob keys queued for deletion (a batch). */
  async blobsToDelete(limit: number): Promise<string[]> {
    const rows = await this.db.query<{ blob_key: string }>(
      `SELECT blob_key FROM export_blob_deletion ORDER BY queued_at LIMIT $1`,
      [limit],
    );
    return rows.map((row) => row.blob_key);
  }

  async blobDeleted(key: string): Promise<void> {
    await this.db.query(`DELETE FROM export_blob_deletion WHERE blob_key = $1`, [key]);
  }

  async queueBlobDeletion(key: string): Promise<void> {
    await this.db.query(
      `INSERT INTO export_blob_deletion (blob_key) VALUES ($1) ON CONFLICT DO NOTHING`,
      [key],
    );
  }
}

type Caller = Pick<JobOwner, 'issuer' | 'clientId' | 'subject'>;

/** Queued or running jobs of this issuer, client and subject (whatever their grant). */
async function activeJobs(sql: Sql, owner: Caller): Promise<number> {
  const rows = await sql.query<{ n: string | number }>(
    `SELECT count(*) AS n FROM export_job WHERE client_id = $1 AND subject = $2
       AND grant_facts->>'iss' = $3 AND state IN ('queued', 'running') AND ${LIVE}`,
    [owner.clientId, owner.subject, owner.issuer],
  );
  return Number(rows[0]?.n ?? 0);
}

/** Deletes the jobs `where` names, queueing every blob they own for deletion first. */
async function forget(sql: Sql, where: string, params: unknown[]): Promise<number> {
  await sql.query(
    `INSERT INTO export_blob_deletion (blob_key)
     SELECT f.blob_key FROM export_file f JOIN export_job j ON j.id = f.job_id WHERE j.${where}
     UNION SELECT pending_blob FROM export_job WHERE ${where} AND pending_blob IS NOT NULL
     ON CONFLICT DO NOTHING`,
    params,
  );
  const rows = await sql.query(`DELETE FROM export_job WHERE ${where} RETURNING id`, params);
  return rows.length;
}
