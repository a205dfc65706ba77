/**
 * `POST /fhir/Patient/{id}/$expunge` (reason required): destroys a patient's records for good,
 * in the operation's transaction: every version of the Patient and of its compartment, their
 * index rows, its MRN, and its Binaries with their bytes. AuditEvents stay; the operation's own
 * event says who did it, and one more (written here) says what went and why. ADMIN only, and
 * refused while any of it is under legal hold. Only with the Postgres store (HealthLake: 501).
 */
import type { AuditEvent, OperationOutcome } from 'fhir/r4.js';
import { ENTITY_TYPE, OBJECT_ROLE, TELEFHIR_SOURCE } from '../../audit/event.js';
import { DCM } from '../../audit/purge.js';
import type { BlobStore } from '../../blob/blob-store.js';
import { FhirError } from '../../fhir/errors.js';
import { ID_PATTERN } from '../../fhir/resource-types.js';
import { deleteQueuedBlobs, queueBlobDeletions } from '../../lifecycle/blob-deletions.js';
import { eraseResources, type Erased } from '../../store/postgres/erase.js';
import { PostgresStore } from '../../store/postgres/postgres-store.js';
import { forbidden, hasRole, scopeAllows, userReference } from '../caller.js';
import type { OperationCall, OperationResult, OperationServices } from '../operation.js';
import { valueOf } from '../operation.js';
import { compartmentMembers } from './compartment-members.js';

/** What $expunge needs besides the other operations' services. */
export interface ExpungeServices extends OperationServices {
  /** Where Binary bytes live; without one, a patient with Binaries can't be expunged. */
  blobs?: BlobStore;
}

function authorizeExpunge(call: OperationCall) {
  const { principal } = call.ex.policy;
  if (!hasRole(principal, 'ADMIN')) throw forbidden('Only ADMIN may expunge a patient');
  if (!scopeAllows(principal, 'Patient', 'd', [call.id!])) {
    throw forbidden('Expunging needs a scope that allows deleting Patients');
  }
}

function expungeEvent(
  call: OperationCall,
  patient: string,
  reason: string,
  erased: Erased,
): AuditEvent {
  const { principal } = call.ex.policy;
  const user = userReference(principal);
  return {
    resourceType: 'AuditEvent',
    type: { system: DCM, code: '110110', display: 'Patient Record' },
    subtype: [{ system: 'http://telefhir.dev/fhir/CodeSystem/lifecycle', code: 'expunge' }],
    action: 'D',
    recorded: call.now.toISOString(),
    outcome: '0',
    agent: [
      {
        who: user ? { reference: user } : { identifier: { value: principal.subject } },
        requestor: true,
      },
    ],
    source: TELEFHIR_SOURCE,
    entity: [
      {
        what: { reference: patient },
        type: { system: ENTITY_TYPE, code: '1', display: 'Person' },
        role: { system: OBJECT_ROLE, code: '1', display: 'Patient' },
        description: reason,
        detail: [
          ...Object.entries(erased.counts).map(([type, n]) => ({
            type: `expunged-${type}`,
            valueString: String(n),
          })),
          { type: 'expunged-versions', valueString: String(erased.versions) },
          { type: 'expunged-blobs', valueString: String(erased.blobKeys.length) },
        ],
      },
    ],
  };
}

export async function expunge(call: OperationCall): Promise<OperationResult> {
  authorizeExpunge(call);
  const id = call.id!;
  if (!ID_PATTERN.test(id)) throw new FhirError(400, 'invalid', `"${id}" is not a valid id`);
  const reason = valueOf<string>(call, 'reason', 'String')?.trim();
  if (!reason) throw new FhirError(400, 'required', 'Parameter "reason" must not be blank');
  if (!(call.tx.store instanceof PostgresStore)) {
    throw new FhirError(501, 'not-supported', '$expunge is not available with this store yet');
  }
  const { sql } = call.tx;
  const members = await compartmentMembers(sql, id, call.ex.baseUrl);
  if (!members.some((m) => m.type === 'Patient' && m.id === id)) {
    throw new FhirError(404, 'not-found', `Patient/${id} is not known`);
  }
  const held = members.filter((m) => m.held);
  if (held.length) {
    throw new FhirError(
      409,
      'conflict',
      `Patient/${id} can't be expunged while under legal hold: ${held
        .map((m) => `${m.type}/${m.id}`)
        .join(', ')} carries a legal-hold tag`,
    );
  }
  const erased = await eraseResources(sql, members);
  const blobs = (call.services as ExpungeServices).blobs;
  if (erased.blobKeys.length && !blobs) {
    throw new FhirError(500, 'exception', 'No blob store is configured; nothing was expunged');
  }
  // The bytes go after the commit (a rolled-back expunge must leave them); queued here so a
  // delete that fails then is retried, never forgotten (lifecycle/blob-deletions.ts).
  await queueBlobDeletions(sql, erased.blobKeys);
  const database = call.tx.store.database;
  await call.tx.store.audit(expungeEvent(call, `Patient/${id}`, reason, erased));
  const total = Object.values(erased.counts).reduce((a, b) => a + b, 0);
  const outcome: OperationOutcome = {
    resourceType: 'OperationOutcome',
    issue: [
      {
        severity: 'information',
        code: 'informational',
        diagnostics: `Expunged Patient/${id}: ${total} resources, ${erased.versions} versions, ${erased.blobKeys.length} stored documents`,
      },
    ],
  };
  return {
    status: 200,
    resource: outcome,
    afterCommit: async () => {
      const failed = await deleteQueuedBlobs(database, blobs!, erased.blobKeys);
      if (failed.length) {
        call.ex.log?.error({ blobs: failed.length }, 'expunged blobs left queued for deletion');
      }
    },
  };
}
