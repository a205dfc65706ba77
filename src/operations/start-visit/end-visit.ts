/**
 * $end-visit on the visit's Encounter: the meeting ends, the Encounter is finished with its
 * period's end, the Appointment fulfilled. Ending an ended visit answers the Encounter again.
 */
import type { Appointment, Encounter, Resource } from 'fhir/r4.js';
import { FhirError } from '../../fhir/errors.js';
import { bookedActors } from '../../workflow/appointment-ledger.js';
import {
  forbidden,
  hasRole,
  isBackend,
  patientIds,
  scopeAllows,
  userReference,
} from '../caller.js';
import { SERVER, type OperationCall, type OperationResult } from '../operation.js';
import { video } from './visit-errors.js';

interface VisitRow {
  appointment_id: string;
  meeting_id: string;
  ended_at: Date | string | null;
}

function authorizeEnd(call: OperationCall, appointment: Appointment) {
  const { principal } = call.ex.policy;
  if (!scopeAllows(principal, 'Encounter', 'u', patientIds(bookedActors(appointment)))) {
    throw forbidden('Ending a visit needs a scope that allows updating Encounters');
  }
  if (isBackend(principal) || hasRole(principal, 'ADMIN')) return;
  const user = userReference(principal);
  if (hasRole(principal, 'PROVIDER', 'NURSE') && user && bookedActors(appointment).includes(user)) {
    return;
  }
  throw forbidden('Only the appointment’s practitioner (or ADMIN) may end its visit');
}

export async function endVisit(call: OperationCall): Promise<OperationResult> {
  const { tx } = call;
  const [visit] = await tx.sql.query<VisitRow>(
    'SELECT appointment_id, meeting_id, ended_at FROM visit WHERE encounter_id = $1 FOR UPDATE',
    [call.id],
  );
  if (!visit) throw new FhirError(404, 'not-found', `Encounter/${call.id} is not a video visit`);
  const appointment = (await tx.store.read(
    'Appointment',
    visit.appointment_id,
    SERVER,
  )) as Appointment;
  authorizeEnd(call, appointment);
  const encounter = (await tx.store.read('Encounter', call.id!, SERVER)) as Encounter;
  if (visit.ended_at !== null) return { status: 200, resource: encounter, touched: [appointment] };

  await video('end meeting', () => call.services.video.endMeeting(visit.meeting_id));
  await tx.sql.query('UPDATE visit SET ended_at = now() WHERE encounter_id = $1', [call.id]);
  const finished = await tx.store.update(
    {
      ...encounter,
      status: 'finished',
      period: { ...encounter.period, end: call.now.toISOString() },
    } as Resource,
    SERVER,
  );
  const fulfilled = await tx.store.update(
    { ...appointment, status: 'fulfilled' } as Resource,
    SERVER,
  );
  return { status: 200, resource: finished.resource, touched: [fulfilled.resource] };
}
