/**
 * Bulk Data $export over HTTP, under /fhir: kick-off at the system, Patient and Group levels
 * (GET or POST), the status URL (poll, DELETE to cancel) and the output files. A job is seen
 * only by the grant that started it (owner.ts: issuer, client, subject and a fingerprint of the
 * grant facts): anyone else's, a narrowed grant's, or an expired one, is 404.
 * Each download is held to the caller's current grant on the file's type and audited, as is
 * every kick-off (parameter names only, never values). The worker runs on a timer in every
 * replica (worker.ts), stopped when the app closes.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { OperationOutcome, Parameters } from 'fhir/r4.js';
import { principalFrom, type TokenClaims } from '../auth/claims.js';
import { buildPolicy, type AccessPolicy } from '../auth/policy.js';
import type { Database } from '../db/database.js';
import { audited, type AuditTarget } from '../exchange/audited.js';
import type { Exchange } from '../exchange/exchange.js';
import { bodyParameters, exchangeOf } from '../exchange/request.js';
import { FhirError } from '../fhir/errors.js';
import { loadOperation } from '../fhir/operation-parameters.js';
import type { Deidentifiers } from './deidentify.js';
import { deidentifiedOnly, deidentifierFor, pseudonymKey, PSEUDONYM_SECRET } from './deidentify.js';
import { ExportJobs, type ExportFile, type ExportLevel, type Job } from './jobs.js';
import { kickoff, parametersFromUrl } from './kickoff.js';
import { ownerOf } from './owner.js';
import { NDJSON, sweep, workOnce, type WorkerDeps } from './worker.js';

export interface ExportOptions {
  /** The workflow database, where the jobs live. */
  db: Database;
  deidentifiers: Deidentifiers;
  /** A claim's lease, ms (default 60 s). */
  leaseMs?: number;
  /** Given the worker's parts (the app decorates itself with them: tests run steps). */
  onWorker?: (deps: WorkerDeps) => void;
}

const DEFINITIONS: Record<ExportLevel, string> = {
  system: 'export.json',
  patient: 'patient-export.json',
  group: 'group-export.json',
};

/** How long a presigned S3 URL of an output file works. */
const SIGNED_URL_SECONDS = 300;

const notFound = () => new FhirError(404, 'not-found', 'No such export job');

/** The caller, without break-glass: an export is not an emergency read. */
function callerOf(app: FastifyInstance, request: FastifyRequest) {
  if (!request.user) throw new FhirError(401, 'login', 'Authentication failed: no bearer token');
  const principal = principalFrom(request.user);
  const policy = buildPolicy(principal, { providerScope: app.config.providerAccess });
  const ex: Exchange = { ...exchangeOf(app, request), policy };
  ex.ctx = { ...ex.ctx, access: policy };
  return { principal, policy, ex };
}

const paramNames = (parameters: Parameters) =>
  new URLSearchParams((parameters.parameter ?? []).map((p) => [String(p.name), '']));

export async function bulkExport(app: FastifyInstance, options: ExportOptions) {
  const jobs = new ExportJobs(options.db);
  const config = app.config.bulkExport;
  const deps: WorkerDeps = {
    jobs,
    store: app.store,
    blobs: app.blobs,
    deidentifiers: options.deidentifiers,
    policy: { providerScope: app.config.providerAccess },
    baseUrl: () => app.config.baseUrl,
    fileResources: config.fileResources,
    leaseMs: options.leaseMs ?? 60_000,
    log: app.log,
  };
  options.onWorker?.(deps);
  const statusUrl = (id: string) => `${app.config.baseUrl}/_export/${id}`;

  const start = (level: ExportLevel) => {
    const definition = loadOperation(DEFINITIONS[level]);
    return async (request: FastifyRequest, reply: FastifyReply) => {
      const { principal, policy, ex } = callerOf(app, request);
      const groupId = (request.params as { id?: string }).id;
      const at = request.url.indexOf('?');
      const parameters =
        request.method === 'GET'
          ? parametersFromUrl(new URLSearchParams(at < 0 ? '' : request.url.slice(at + 1)))
          : bodyParameters(request.body);
      const target: AuditTarget = {
        interaction: 'operation',
        ...(level === 'system' ? {} : { type: level === 'group' ? 'Group' : 'Patient' }),
        ...(groupId ? { id: groupId } : {}),
        query: paramNames(parameters),
      };
      const id = randomUUID();
      const owner = ownerOf(request.user!, principal);
      await audited(ex, target, async () => {
        const job = await kickoff(
          {
            level,
            ...(groupId !== undefined ? { groupId } : {}),
            parameters,
            prefer: [request.headers.prefer ?? []].flat().join(','),
            requestUrl: `${app.config.baseUrl}${request.url.replace(/^\/fhir/, '')}`,
            principal,
            owner,
            policy,
            policyOptions: deps.policy,
            ctx: ex.ctx,
            store: app.store,
            baseUrl: app.config.baseUrl,
            deidentifiers: options.deidentifiers,
          },
          definition,
          id,
          config.retentionHours,
        );
        // A cap per caller, so one can't starve everyone (counted and created atomically).
        if (!(await jobs.create(job, config.maxActiveJobs))) {
          throw new FhirError(
            429,
            'transient',
            `At most ${config.maxActiveJobs} exports may run at once for this client: wait for one to finish, or cancel one`,
            undefined,
            { 'retry-after': '60' },
          );
        }
        return { status: 202 };
      });
      reply.code(202).header('content-location', statusUrl(id));
      const outcome: OperationOutcome = {
        resourceType: 'OperationOutcome',
        issue: [{ severity: 'information', code: 'informational', diagnostics: 'Export started' }],
      };
      return outcome;
    };
  };
  for (const [path, level] of [
    ['/$export', 'system'],
    ['/Patient/$export', 'patient'],
    ['/Group/:id/$export', 'group'],
  ] as const) {
    app.get(path, start(level));
    app.post(path, start(level));
  }

  const ownJob = async (request: FastifyRequest): Promise<{ job: Job; policy: AccessPolicy }> => {
    const { principal, policy } = callerOf(app, request);
    const { id } = request.params as { id: string };
    if (!/^[0-9a-f-]{36}$/.test(id)) throw notFound();
    const job = await jobs.find(id, ownerOf(request.user!, principal));
    if (!job) throw notFound();
    if (deidentifiedOnly(principal)) {
      // Only de-identified jobs, held to the server policy they were read under.
      if (job.deidentify === null) throw notFound();
      return {
        job,
        policy: buildPolicy(principalFrom(job.grantFacts as TokenClaims), deps.policy),
      };
    }
    return { job, policy };
  };

  app.get('/_export/:id', async (request, reply) => {
    const { job, policy } = await ownJob(request);
    if (job.state === 'failed') {
      // Bulk Data: a failed job answers an error status with an OperationOutcome. Only the
      // server fails a job (its attempts ran out), so 500; nothing of the cause (which is
      // logged without data) is told, and its files are already gone (jobs.fail).
      throw new FhirError(
        500,
        'exception',
        'The export failed and its files were discarded; it may be retried by a new kick-off',
      );
    }
    if (job.state !== 'completed') {
      const progress = `${job.resourcesDone} resources in ${job.filesDone} files; type ${Math.min(
        (job.position.type ?? 0) + 1,
        job.types.length,
      )} of ${job.types.length}`;
      reply.code(202).header('x-progress', progress).header('retry-after', '2');
      return {
        resourceType: 'OperationOutcome',
        issue: [{ severity: 'information', code: 'informational', diagnostics: progress }],
      } satisfies OperationOutcome;
    }
    const files = await jobs.files(job.id);
    const signed = await presigned(request, job, policy, files);
    const url = (seq: number) => signed?.get(seq) ?? `${statusUrl(job.id)}/${seq}`;
    const deidentifier = await deidentifierFor(job.deidentify, options.deidentifiers, async () =>
      pseudonymKey(await app.store.sharedSecret(PSEUDONYM_SECRET), job.id),
    );
    reply.type('application/json; charset=utf-8');
    return {
      transactionTime: job.transactionTime,
      request: job.requestUrl,
      requiresAccessToken: signed === undefined,
      output: files
        .filter((file) => file.kind === 'output')
        .map((file) => ({ type: file.resourceType, url: url(file.seq), count: file.count })),
      error: files
        .filter((file) => file.kind === 'error')
        .map((file) => ({ type: 'OperationOutcome', url: url(file.seq), count: file.count })),
      ...(deidentifier
        ? { deidentification: { method: deidentifier.method, removed: deidentifier.describe() } }
        : {}),
    };
  });

  /**
   * With S3, the files are handed out as presigned URLs (short-lived): the grant on each type
   * is checked now, and handing them out is audited as the download, since the bytes then
   * leave S3 without passing here.
   */
  const presigned = async (
    request: FastifyRequest,
    job: Job,
    policy: AccessPolicy,
    files: ExportFile[],
  ): Promise<Map<number, string> | undefined> => {
    const sign = app.blobs.signedUrl?.bind(app.blobs);
    if (!sign) return undefined;
    const { ex } = callerOf(app, request);
    const urls = new Map<number, string>();
    await audited(ex, { interaction: 'read', query: new URLSearchParams('_export=') }, async () => {
      for (const file of files) {
        if (file.kind === 'output' && !policy.grant(file.resourceType, 'search')) {
          throw new FhirError(
            403,
            'forbidden',
            `The token may no longer export ${file.resourceType}`,
          );
        }
        urls.set(file.seq, await sign(file.blobKey, SIGNED_URL_SECONDS, NDJSON));
      }
      return { status: 200 };
    });
    return urls;
  };

  app.delete('/_export/:id', async (request, reply) => {
    const { principal } = callerOf(app, request);
    const { id } = request.params as { id: string };
    if (!/^[0-9a-f-]{36}$/.test(id)) throw notFound();
    if (!(await jobs.cancel(id, ownerOf(request.user!, principal)))) throw notFound();
    reply.code(202);
    return {
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'information', code: 'informational', diagnostics: 'Export cancelled' }],
    } satisfies OperationOutcome;
  });

  app.get('/_export/:id/:seq', async (request, reply) => {
    const { ex } = callerOf(app, request);
    const { seq } = request.params as { seq: string };
    const target: AuditTarget = { interaction: 'read' };
    let body: NodeJS.ReadableStream | undefined;
    await audited(ex, target, async () => {
      const { job, policy } = await ownJob(request);
      const file = /^\d{1,9}$/.test(seq) ? await jobs.file(job.id, Number(seq)) : undefined;
      if (!file) throw notFound();
      // The grant as it stands now: a token narrowed since kick-off gets no more than it allows.
      if (file.kind === 'output' && !policy.grant(file.resourceType, 'search')) {
        throw new FhirError(
          403,
          'forbidden',
          `The token may no longer export ${file.resourceType}`,
        );
      }
      target.type = file.kind === 'output' ? file.resourceType : 'OperationOutcome';
      const content = await app.blobs.get(file.blobKey);
      if (!content) throw notFound();
      body = content.body;
      return { status: 200 };
    });
    reply.type(NDJSON);
    return reply.send(body);
  });

  let closing = false;
  deps.stopping = () => closing;
  // The worker: every replica polls; SKIP LOCKED gives each job to one of them.
  if (config.pollMs > 0) {
    let running: Promise<void> | undefined;
    const tick = async () => {
      try {
        await sweep(deps);
        while (await workOnce(deps)) {
          if (closing) return;
        }
      } catch (error) {
        app.log.error({ err: error }, 'export worker step failed');
      }
    };
    const timer = setInterval(() => {
      if (!running) running = tick().finally(() => (running = undefined));
    }, config.pollMs);
    timer.unref();
    app.addHook('onClose', async () => {
      closing = true;
      clearInterval(timer);
      await running;
    });
  }
}
