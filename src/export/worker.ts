/**
 * The export worker: claims a job (jobs.ts), rebuilds the policy of whoever started it from
 * the grant facts in the job row, and writes NDJSON files of at most `fileResources`
 * resources each through the BlobStore, streaming page by page (reader.ts) so memory stays flat
 * however large the export. Each file is recorded, and the resume position moved past it, in
 * one guarded UPDATE; a worker that dies mid-file leaves its half-written blob named in the
 * job row for the next one to delete, which then writes that file again from the same position.
 */
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { OperationOutcome, Resource } from 'fhir/r4.js';
import { principalFrom, type TokenClaims } from '../auth/claims.js';
import { buildPolicy, type PolicyOptions } from '../auth/policy.js';
import type { BlobStore } from '../blob/blob-store.js';
import { FhirError } from '../fhir/errors.js';
import type { FhirStore, RequestContext } from '../store/store.js';
import type { Deidentifier } from './deidentifier.js';
import {
  deidentifierFor,
  pseudonymKey,
  PSEUDONYM_SECRET,
  type Deidentifiers,
} from './deidentify.js';
import type { ExportJobs, Job, JobPosition } from './jobs.js';
import { readPage, type Page } from './reader.js';

export const NDJSON = 'application/fhir+ndjson';
const PAGE = 1000;
const MAX_ATTEMPTS = 5;

export interface WorkerLog {
  warn(details: object, message: string): void;
  error(details: object, message: string): void;
}

export interface WorkerDeps {
  jobs: ExportJobs;
  store: FhirStore;
  blobs: BlobStore;
  deidentifiers: Deidentifiers;
  policy: PolicyOptions;
  baseUrl: () => string;
  fileResources: number;
  /** Resources per store page (default 1000). */
  pageSize?: number;
  /** How long a claim holds without renewal; renewed at least every third of it. */
  leaseMs: number;
  log?: WorkerLog;
  /** True when this replica is shutting down: the job is given back for another to resume. */
  stopping?: () => boolean;
  /** Called after each page is read (tests stop a worker there, as a crash would). */
  onPage?: (job: Job) => Promise<void> | void;
}

class LeaseLost extends Error {}

/** The policy of whoever started the job, as their token's claims give it. */
export function jobContext(job: Job, options: PolicyOptions): RequestContext {
  const claims = job.grantFacts as TokenClaims;
  return {
    requestId: `export-${job.id}`,
    access: buildPolicy(principalFrom(claims), options),
  };
}

/** Claims one job and works it to the end (or until it is cancelled); false when none waited. */
export async function workOnce(deps: WorkerDeps, worker = randomUUID()): Promise<boolean> {
  const job = await deps.jobs.claim(worker, deps.leaseMs);
  if (!job) return false;
  try {
    if (job.pendingBlob) {
      await deps.blobs.delete(job.pendingBlob);
      await deps.jobs.pending(job.id, worker, null);
    }
    const deidentifier = await deidentifierFor(job.deidentify, deps.deidentifiers, async () =>
      pseudonymKey(await deps.store.sharedSecret(PSEUDONYM_SECRET), job.id),
    );
    await new JobRun(deps, job, worker, deidentifier).run();
  } catch (error) {
    if (error instanceof LeaseLost) return true;
    deps.log?.error({ err: error, exportJob: job.id }, 'export job attempt failed');
    if (job.attempts >= MAX_ATTEMPTS) {
      await deps.jobs.fail(job.id, worker, 'the export could not be completed');
    } else {
      await deps.jobs.release(job.id, worker);
    }
  }
  return true;
}

class JobRun {
  private readonly ctx: RequestContext;
  private renewedAt = Date.now();
  private readonly pageSize: number;

  constructor(
    private readonly deps: WorkerDeps,
    private readonly job: Job,
    private readonly worker: string,
    private readonly deidentifier: Deidentifier | undefined,
  ) {
    this.ctx = jobContext(job, deps.policy);
    this.pageSize = deps.pageSize ?? PAGE;
  }

  async run(): Promise<void> {
    let position = this.job.position;
    while ((position.type ?? 0) < this.job.types.length) {
      position = await this.writeFile(position);
    }
    if (!(await this.deps.jobs.complete(this.job.id, this.worker))) throw new LeaseLost();
  }

  private async renew(): Promise<void> {
    if (this.deps.stopping?.()) {
      await this.deps.jobs.release(this.job.id, this.worker);
      throw new LeaseLost();
    }
    if (Date.now() - this.renewedAt < this.deps.leaseMs / 3) return;
    if (!(await this.deps.jobs.renew(this.job.id, this.worker, this.deps.leaseMs))) {
      throw new LeaseLost();
    }
    this.renewedAt = Date.now();
  }

  private transform(resources: Resource[]): Resource[] {
    if (!this.deidentifier) return resources;
    return resources.flatMap((resource) => this.deidentifier!.apply(resource) ?? []);
  }

  private async page(at: JobPosition, count: number): Promise<Page> {
    const page = await readPage(
      this.deps.store,
      this.ctx,
      this.job,
      at,
      count,
      this.deps.baseUrl(),
    );
    await this.deps.onPage?.(this.job);
    await this.renew();
    return { ...page, resources: this.transform(page.resources) };
  }

  /** One output file of the type at `at`, or none when nothing is left of it: the next position. */
  private async writeFile(at: JobPosition): Promise<JobPosition> {
    const type = this.job.types[at.type ?? 0]!;
    const limit = this.deps.fileResources;
    let first: Page;
    try {
      first = await this.page(at, Math.min(this.pageSize, limit));
      // Members with nothing of this type give empty pages: skip them before opening a file.
      while (!first.resources.length && !first.typeDone) {
        first = await this.page(first.next, Math.min(this.pageSize, limit));
      }
    } catch (error) {
      if (!(error instanceof FhirError) || error.statusCode >= 500) throw error;
      return this.writeError(at, type, error);
    }
    if (!first.resources.length) {
      await this.record(undefined, first.next);
      return first.next;
    }
    const progress = { count: 0, next: first.next };
    const lines = async function* (this: JobRun): AsyncGenerator<string> {
      let page = first;
      for (;;) {
        if (page.resources.length) {
          yield page.resources.map((resource) => `${JSON.stringify(resource)}\n`).join('');
        }
        progress.count += page.resources.length;
        progress.next = page.next;
        if (page.typeDone || progress.count >= limit) return;
        page = await this.page(page.next, Math.min(this.pageSize, limit - progress.count));
      }
    }.call(this);
    const key = `export/${this.job.id}/${randomUUID()}.ndjson`;
    if (!(await this.deps.jobs.pending(this.job.id, this.worker, key))) throw new LeaseLost();
    await this.deps.blobs.put(key, Readable.from(lines), {
      contentType: NDJSON,
      maxBytes: Number.MAX_SAFE_INTEGER,
    });
    await this.record(
      { kind: 'output', resourceType: type, blobKey: key, count: progress.count },
      progress.next,
    );
    return progress.next;
  }

  /** A type the store refused (a filter it can't apply): an OperationOutcome in error[]. */
  private async writeError(at: JobPosition, type: string, error: FhirError) {
    const outcome: OperationOutcome = {
      resourceType: 'OperationOutcome',
      issue: [
        {
          severity: 'error',
          code: error.issueCode,
          diagnostics: `${type} was not exported: ${error.message}`,
        },
      ],
    };
    const key = `export/${this.job.id}/${randomUUID()}.ndjson`;
    const next: JobPosition = { type: (at.type ?? 0) + 1 };
    if (!(await this.deps.jobs.pending(this.job.id, this.worker, key))) throw new LeaseLost();
    await this.deps.blobs.put(key, Readable.from([`${JSON.stringify(outcome)}\n`]), {
      contentType: NDJSON,
      maxBytes: Number.MAX_SAFE_INTEGER,
    });
    await this.record(
      { kind: 'error', resourceType: 'OperationOutcome', blobKey: key, count: 1 },
      next,
    );
    return next;
  }

  private async record(
    file: Parameters<ExportJobs['recordFile']>[2],
    next: JobPosition,
  ): Promise<void> {
    if (await this.deps.jobs.recordFile(this.job.id, this.worker, file, next)) return;
    // Cancelled, expired or taken over meanwhile: this file is nobody's.
    if (file) await this.deps.blobs.delete(file.blobKey).catch(() => undefined);
    throw new LeaseLost();
  }
}

/** Deletes expired jobs and the blobs of expired or cancelled ones. */
export async function sweep(deps: Pick<WorkerDeps, 'jobs' | 'blobs' | 'log'>): Promise<void> {
  await deps.jobs.expire();
  for (const key of await deps.jobs.blobsToDelete(100)) {
    try {
      await deps.blobs.delete(key);
      await deps.jobs.blobDeleted(key);
    } catch (error) {
      deps.log?.warn({ err: error, blobKey: key }, 'an export blob could not be deleted yet');
    }
  }
}
