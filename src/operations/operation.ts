/**
 * What every telehealth operation shares: its OperationDefinition drives parameter parsing
 * (unknown, missing or repeated parameters → 400, a value of the wrong type → 400); it runs in
 * one workflow transaction with its FHIR writes; it is audited in that transaction (and
 * refusals after it); and an `Idempotency-Key` replays its first response.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { OperationDefinition, Parameters, ParametersParameter, Resource } from 'fhir/r4.js';
import { buildAuditEvent } from '../audit/event.js';
import { FhirError } from '../fhir/errors.js';
import { loadOperation, readParameters } from '../fhir/operation-parameters.js';
import { auditFailure, auditInput, type AuditTarget } from '../exchange/audited.js';
import type { Exchange } from '../exchange/exchange.js';
import { requireId } from '../exchange/guards.js';
import { exchangeOf } from '../exchange/request.js';
import type { Sql } from '../db/database.js';
import type { RequestContext } from '../store/store.js';
import type { VideoProvider } from '../video/video-provider.js';
import type { Workflow, WorkflowTx } from '../workflow/workflow.js';
import { idempotent, type Replay } from './idempotency.js';
import { forbidden } from './caller.js';

/** The server acting for itself (after the operation has authorized the caller). */
export const SERVER: RequestContext = { requestId: 'operation', access: 'unrestricted' };

/** What operations use besides the stores. */
export interface OperationServices {
  video: VideoProvider;
  /** How long before its start a visit may begin. */
  visitEarlyMinutes: number;
  /**
   * Mints an EHR launch context for a registered SMART client (the built-in authorization
   * server's, src/oauth/launch.ts), in the operation's transaction; absent without one.
   */
  mintLaunch?(
    sql: Sql,
    clientId: string,
    context: { patient: string; encounter?: string },
    createdBy: string,
  ): Promise<{ launch: string; url: string }>;
}

export interface OperationCall {
  services: OperationServices;
  /** The caller: policy, validator, base URL; its store is the transaction's. */
  ex: Exchange;
  tx: WorkflowTx;
  params: Map<string, ParametersParameter[]>;
  /** The instance, for instance-level operations. */
  id?: string;
  now: Date;
}

export interface OperationResult {
  status: number;
  resource: Resource;
  location?: string;
  /** What the audit trail should name besides `resource` (the patient is found from them). */
  touched?: Resource[];
  /** Work for after the commit (deleting blob bytes); its failure doesn't change the answer. */
  afterCommit?: () => Promise<void>;
}

export interface OperationSpec {
  /** File in operations/. */
  file: string;
  /** Path under /fhir, e.g. `/Appointment/$book` or `/Appointment/:id/$start-visit`. */
  path: string;
  run(call: OperationCall): Promise<OperationResult>;
  /**
   * `store`: a replay answers the stored response. `verify`: the operation is idempotent by
   * itself and its response holds secrets, so only the request hash is kept (a replay runs it
   * again, to the same effect).
   */
  replay: Replay;
}

/**
 * The OperationDefinition with its canonical URL: on this server's base for our own
 * (`{base}/...` in the file), as published for one an implementation guide defines (US Core's
 * docref), so a client finds the operation by the canonical it knows.
 */
export function operationDefinition(file: string, baseUrl: string): OperationDefinition {
  const definition = loadOperation(file);
  if (definition.url && !definition.url.startsWith('{base}')) return definition;
  return { ...definition, url: `${baseUrl}/OperationDefinition/${definition.id}` };
}

function parametersOf(body: unknown): Parameters {
  if (body === undefined || body === null || body === '') return { resourceType: 'Parameters' };
  if (typeof body !== 'object' || (body as Resource).resourceType !== 'Parameters') {
    throw new FhirError(400, 'structure', 'The body must be a Parameters resource');
  }
  return body as Parameters;
}

export function registerOperation(
  app: FastifyInstance,
  workflow: Workflow,
  services: OperationServices,
  spec: OperationSpec,
  now: () => Date = () => new Date(),
) {
  const definition = loadOperation(spec.file);
  app.post<{ Params: { id?: string } }>(spec.path, async (request, reply) => {
    const ex = exchangeOf(app, request);
    const id = request.params.id;
    if (id !== undefined) requireId(id); // before SQL: Postgres refuses a NUL in text
    const target: AuditTarget = {
      interaction: 'operation',
      type: definition.resource?.[0],
      ...(id ? { id } : {}),
    };
    try {
      // Every operation here writes; break-glass opens reading only.
      if (ex.policy.breakGlass) {
        throw forbidden('Break-glass grants read access only: operations are refused under it');
      }
      const result = await workflow.run(async (tx) => {
        const params = readParameters(definition, parametersOf(request.body));
        const inner: Exchange = { ...ex, store: tx.store };
        const key = idempotencyKey(request);
        const scope = `${ex.policy.principal.subject}|${ex.policy.principal.clientId ?? ''}|${definition.code}|${id ?? ''}`;
        const outcome: OperationResult = await idempotent(
          tx.sql,
          key,
          scope,
          request.body,
          spec.replay,
          () =>
            spec.run({
              ex: inner,
              tx,
              params,
              id,
              now: now(),
              // Whatever the video provider keeps in the database joins this transaction.
              services: { ...services, video: services.video.within(tx.sql) },
            }),
        );
        // A replay shows the data again, so it is audited like the first time.
        const audit = auditInput(inner, target, 'success', outcome);
        for (const extra of outcome.touched ?? []) {
          audit.entities.push(
            ...auditInput(inner, target, 'success', { status: 200, resource: extra }).entities,
          );
        }
        await tx.store.audit(buildAuditEvent(audit));
        return outcome;
      });
      await result.afterCommit?.().catch((err: unknown) => {
        request.log.error({ err }, 'after-commit work of an operation failed');
      });
      return send(reply, result);
    } catch (error) {
      await auditFailure(ex, target, error);
      throw error;
    }
  });
  return definition;
}

function idempotencyKey(request: FastifyRequest): string | undefined {
  const header = request.headers['idempotency-key'];
  const key = Array.isArray(header) ? header[0] : header;
  if (key === undefined) return undefined;
  if (!/^[\x21-\x7e]{1,255}$/.test(key)) {
    throw new FhirError(400, 'invalid', 'Idempotency-Key must be 1-255 visible ASCII characters');
  }
  return key;
}

function send(reply: FastifyReply, result: OperationResult) {
  if (result.location) reply.header('location', result.location);
  const meta = result.resource.meta;
  if (meta?.versionId && result.status === 201) reply.header('etag', `W/"${meta.versionId}"`);
  return reply.code(result.status).send(result.resource);
}

/** One parameter's value[x] of the expected type, or 400 naming what was expected. */
export function valueOf<T>(
  call: Pick<OperationCall, 'params'>,
  name: string,
  type: string,
): T | undefined {
  const [parameter] = call.params.get(name) ?? [];
  if (!parameter) return undefined;
  const value = (parameter as unknown as Record<string, unknown>)[`value${type}`];
  if (value === undefined) {
    throw new FhirError(400, 'invalid', `Parameter "${name}" must be a value${type}`);
  }
  return value as T;
}

export function valuesOf<T>(call: Pick<OperationCall, 'params'>, name: string, type: string): T[] {
  return (call.params.get(name) ?? []).map((parameter) => {
    const value = (parameter as unknown as Record<string, unknown>)[`value${type}`];
    if (value === undefined) {
      throw new FhirError(400, 'invalid', `Parameter "${name}" must be a value${type}`);
    }
    return value as T;
  });
}

/** `Type/id` of a Reference parameter of the expected type, or 400. */
export function referenceId(
  call: Pick<OperationCall, 'params' | 'ex'>,
  name: string,
  type: string,
): string | undefined {
  const reference = valueOf<{ reference?: string }>(call, name, 'Reference');
  if (!reference) return undefined;
  let ref = reference.reference ?? '';
  const base = `${call.ex.baseUrl}/`;
  if (ref.startsWith(base)) ref = ref.slice(base.length);
  const match = new RegExp(`^${type}/([A-Za-z0-9\\-.]{1,64})$`).exec(ref);
  if (!match) {
    throw new FhirError(
      400,
      'invalid',
      `Parameter "${name}" must reference a ${type} (${type}/id)`,
    );
  }
  return match[1];
}
