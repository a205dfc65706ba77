/**
 * The audit trail of the REST interactions: every one that reads or writes PHI leaves an
 * AuditEvent, refusals and failures included. A write's event commits in the write's own
 * transaction, so if it can't be recorded the change rolls back and the client gets a 500
 * (fail-closed). A read's event has committed before the response is sent.
 */
import type { Bundle, Resource } from 'fhir/r4.js';
import {
  buildAuditEvent,
  type AuditInput,
  type AuditInteraction,
  type AuditOutcome,
} from '../audit/event.js';
import { patientsOf } from '../audit/patients.js';
import { assignedPractitioners } from '../auth/write-reach.js';
import { ownerOf } from '../fhir/binary.js';
import { FhirError } from '../fhir/errors.js';
import { ID_PATTERN } from '../fhir/resource-types.js';
import type { Exchange, InteractionResult } from './exchange.js';

/** What a request asked for, known before it runs (so a refusal can say so too). */
export interface AuditTarget {
  interaction: AuditInteraction;
  type?: string;
  id?: string;
  /** A search's parameters: only their names are recorded. */
  query?: URLSearchParams;
  /** A vread's version. */
  versionId?: string;
}

const WRITES: ReadonlySet<AuditInteraction> = new Set(['create', 'update', 'delete', 'patch']);

/** `Type/id` of every resource a result carries: itself, or a Bundle's entries. */
function touched(result: InteractionResult | undefined): Resource[] {
  const resource = result?.resource ?? result?.deleted;
  if (!resource) return [];
  const all =
    resource.resourceType === 'Bundle'
      ? ((resource as Bundle).entry ?? []).flatMap((entry) =>
          entry.resource ? [entry.resource] : [],
        )
      : [resource];
  // An OperationOutcome ($validate's answer) is what we said, not something touched.
  return all.filter((r) => r.id !== undefined && r.resourceType !== 'OperationOutcome');
}

function outcomeOf(error: unknown): AuditOutcome {
  return error instanceof FhirError && error.statusCode < 500 ? 'minor' : 'serious';
}

export function auditInput(
  ex: Exchange,
  target: AuditTarget,
  outcome: AuditOutcome,
  result?: InteractionResult,
): AuditInput {
  const { principal, breakGlass } = ex.policy;
  const entities: AuditInput['entities'] = [];
  const writing = ['create', 'update', 'patch', 'operation'].includes(target.interaction);
  for (const resource of touched(result)) {
    const assigns = writing
      ? [...assignedPractitioners(resource)].map((id) => `Practitioner/${id}`)
      : [];
    entities.push({
      reference: `${resource.resourceType}/${resource.id}`,
      ...(assigns.length ? { assigns } : {}),
    });
    for (const patient of patientsOf(resource, ex.baseUrl)) {
      entities.push({ reference: patient, role: 'patient' });
    }
  }
  if (!entities.length && target.type && target.id) {
    entities.push({ reference: `${target.type}/${target.id}` });
  }
  const user = principal.fhirUser;
  return {
    interaction: target.interaction,
    outcome,
    who: user ? { reference: `${user.type}/${user.id}` } : {},
    subject: principal.subject,
    ...(principal.clientId ? { clientId: principal.clientId } : {}),
    ...(ex.address ? { address: ex.address } : {}),
    requestId: ex.ctx.requestId,
    entities,
    ...(breakGlass
      ? { purposeOfUse: { code: 'BTG', display: 'break the glass' }, reason: breakGlass.reason }
      : {}),
    ...(target.query ? { query: target.query.toString() } : {}),
  };
}

/**
 * The owner of the Binary a refused request named, found with the server's own access: the
 * version asked for, else the newest stored version (a deleted Binary still has one).
 */
async function binaryOwner(ex: Exchange, target: AuditTarget): Promise<string | undefined> {
  const { id, versionId } = target;
  if (!id || !ID_PATTERN.test(id)) return undefined;
  const server = { ...ex.ctx, access: 'unrestricted' as const };
  const found: Resource | undefined = await (
    versionId
      ? ex.store.vread('Binary', id, versionId, server)
      : ex.store.read('Binary', id, server)
  ).catch(() => undefined);
  if (found) return ownerOf(found);
  const page = await ex.store
    .history({ type: 'Binary', id, count: 10 }, server)
    .catch(() => undefined);
  const last = page?.versions.find((version) => version.resource)?.resource;
  return last && ownerOf(last);
}

/**
 * Records a refusal or failure in a transaction of its own (the change, if any, rolled back).
 * If even that can't be written, the client still hears the original error; the lost event is
 * logged, without its content.
 */
export async function auditFailure(ex: Exchange, target: AuditTarget, error: unknown) {
  try {
    const input = auditInput(ex, target, outcomeOf(error));
    // A refused Binary still says whose document someone tried to reach (never told to them).
    const owner = target.type === 'Binary' ? await binaryOwner(ex, target) : undefined;
    if (owner) input.entities.push({ reference: owner, role: 'patient' });
    await ex.store.audit(buildAuditEvent(input));
  } catch (failure) {
    ex.log?.error(
      { err: failure, interaction: target.interaction },
      'could not record the AuditEvent of a failed request',
    );
  }
}

/** Runs an interaction and records it. */
export async function audited(
  ex: Exchange,
  target: AuditTarget,
  work: (ex: Exchange) => Promise<InteractionResult>,
): Promise<InteractionResult> {
  try {
    if (WRITES.has(target.interaction)) {
      return await ex.store.transaction(async (tx) => {
        const inTx: Exchange = { ...ex, store: tx };
        const result = await work(inTx);
        await tx.audit(buildAuditEvent(auditInput(ex, target, 'success', result)));
        return result;
      });
    }
    const result = await work(ex);
    await ex.store.audit(buildAuditEvent(auditInput(ex, target, 'success', result)));
    return result;
  } catch (error) {
    if (!ex.transactional) await auditFailure(ex, target, error);
    throw error;
  }
}
