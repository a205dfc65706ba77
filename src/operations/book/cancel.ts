/**
 * $cancel: the appointment is cancelled; the ledger hook gives its time back to both people
 * and frees its Slot, in the same transaction.
 */
import type { Appointment } from 'fhir/r4.js';
import { FhirError } from '../../fhir/errors.js';
import { INACTIVE_STATUSES, bookedActors } from '../../workflow/appointment-ledger.js';
import {
  forbidden,
  hasRole,
  isBackend,
  ownPatient,
  patientIds,
  scopeAllows,
  userReference,
} from '../caller.js';
import { SERVER, valueOf, type OperationCall, type OperationResult } from '../operation.js';

/** Its patient, its practitioners, the front desk, ADMIN, or a backend service. */
function authorizeCancel(call: OperationCall, appointment: Appointment) {
  const { principal } = call.ex.policy;
  const actors = bookedActors(appointment);
  if (!scopeAllows(principal, 'Appointment', 'u', patientIds(actors))) {
    throw forbidden('Cancelling needs a scope that allows updating Appointments');
  }
  if (isBackend(principal) || hasRole(principal, 'ADMIN', 'RECEPTIONIST', 'STAFF')) return;
  const own = ownPatient(principal);
  if (hasRole(principal, 'PATIENT') && own && actors.includes(`Patient/${own}`)) return;
  const user = userReference(principal);
  if (hasRole(principal, 'PROVIDER', 'NURSE') && user && actors.includes(user)) return;
  throw forbidden(
    'Only the appointment’s patient or practitioner, the front desk or ADMIN may cancel it',
  );
}

export async function cancel(call: OperationCall): Promise<OperationResult> {
  const { tx } = call;
  const id = call.id!;
  let appointment: Appointment;
  try {
    appointment = (await tx.store.read('Appointment', id, SERVER)) as Appointment;
  } catch (error) {
    // Whether it exists is not for a caller we can't yet place to learn: 404 either way.
    if (error instanceof FhirError)
      throw new FhirError(404, 'not-found', `Appointment/${id} is not known`);
    throw error;
  }
  authorizeCancel(call, appointment);
  if (appointment.status === 'cancelled') {
    return { status: 200, resource: appointment };
  }
  if (INACTIVE_STATUSES.has(appointment.status) || appointment.status === 'fulfilled') {
    throw new FhirError(
      409,
      'conflict',
      `Appointment/${id} is ${appointment.status}; it can't be cancelled`,
    );
  }
  const reason = valueOf<string>(call, 'reason', 'String');
  const updated = await tx.store.update(
    {
      ...appointment,
      status: 'cancelled',
      ...(reason ? { cancelationReason: { text: reason } } : {}),
    } as Appointment,
    SERVER,
  );
  return { status: 200, resource: updated.resource };
}
