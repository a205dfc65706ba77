/**
 * The prescription workflow: signed → transmitted → dispensed, or cancelled from signed or
 * transmitted. A MedicationRequest follows its prescription: cancelling one cancels the other,
 * in the same transaction.
 */
import type { MedicationRequest } from 'fhir/r4.js';
import { FhirError } from '../../fhir/errors.js';
import type { Sql } from '../../db/database.js';
import type { WriteHook } from '../../store/write-hook.js';
import type { WorkflowTx } from '../../workflow/workflow.js';
import { SERVER } from '../operation.js';

export type PrescriptionState = 'signed' | 'transmitted' | 'dispensed' | 'cancelled';

const NEXT: Record<PrescriptionState, readonly PrescriptionState[]> = {
  signed: ['transmitted', 'cancelled'],
  transmitted: ['dispensed', 'cancelled'],
  dispensed: [],
  cancelled: [],
};

/** The MedicationRequest status each state shows. */
const REQUEST_STATUS: Record<PrescriptionState, MedicationRequest['status']> = {
  signed: 'active',
  transmitted: 'active',
  dispensed: 'completed',
  cancelled: 'cancelled',
};

export async function recordPrescription(
  sql: Sql,
  row: { medicationRequestId: string; patientId: string; rxnorm: string; duplicateReason?: string },
) {
  try {
    await sql.query(
      `INSERT INTO prescription (medication_request_id, patient_id, rxnorm, state, duplicate_reason)
       VALUES ($1, $2, $3, 'signed', $4)`,
      [row.medicationRequestId, row.patientId, row.rxnorm, row.duplicateReason ?? null],
    );
  } catch (error) {
    if ((error as { code?: string }).code === '23505') {
      throw new FhirError(
        409,
        'duplicate',
        `Patient/${row.patientId} already has an open prescription of RxNorm ${row.rxnorm}`,
      );
    }
    throw error;
  }
}

/** The open prescription of a code for a patient, by its MedicationRequest id. */
export async function openPrescription(sql: Sql, patientId: string, rxnorm: string) {
  const rows = await sql.query<{ medication_request_id: string }>(
    `SELECT medication_request_id FROM prescription
     WHERE patient_id = $1 AND rxnorm = $2 AND state IN ('signed', 'transmitted') LIMIT 1`,
    [patientId, rxnorm],
  );
  return rows[0]?.medication_request_id;
}

export async function prescriptionState(sql: Sql, id: string) {
  const rows = await sql.query<{ state: PrescriptionState }>(
    'SELECT state FROM prescription WHERE medication_request_id = $1',
    [id],
  );
  return rows[0]?.state;
}

/** Moves a prescription on, and its MedicationRequest with it; an illegal move is 409. */
export async function transition(tx: WorkflowTx, id: string, to: PrescriptionState) {
  const rows = await tx.sql.query<{ state: PrescriptionState }>(
    'SELECT state FROM prescription WHERE medication_request_id = $1 FOR UPDATE',
    [id],
  );
  const from = rows[0]?.state;
  if (!from) throw new FhirError(404, 'not-found', `No prescription for MedicationRequest/${id}`);
  if (from === to) return;
  if (!NEXT[from].includes(to)) {
    throw new FhirError(409, 'conflict', `A ${from} prescription can't become ${to}`);
  }
  await tx.sql.query(
    'UPDATE prescription SET state = $2, updated_at = now() WHERE medication_request_id = $1',
    [id, to],
  );
  const request = (await tx.store.read('MedicationRequest', id, SERVER)) as MedicationRequest;
  if (request.status !== REQUEST_STATUS[to]) {
    await tx.store.update({ ...request, status: REQUEST_STATUS[to] } as MedicationRequest, SERVER);
  }
}

/**
 * A MedicationRequest cancelled (or stopped, or entered in error) by any write cancels its open
 * prescription: the workflow never transmits what the record says is off.
 */
export function prescriptionLedger(): WriteHook {
  return {
    async afterWrite({ sql }, type, id, resource) {
      if (type !== 'MedicationRequest') return;
      const status = (resource as MedicationRequest | undefined)?.status;
      if (resource && !['cancelled', 'stopped', 'entered-in-error'].includes(status ?? '')) return;
      await sql.query(
        `UPDATE prescription SET state = 'cancelled', updated_at = now()
         WHERE medication_request_id = $1 AND state IN ('signed', 'transmitted')`,
        [id],
      );
    },
  };
}
