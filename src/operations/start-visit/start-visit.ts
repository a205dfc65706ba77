/**
 * $start-visit: the video visit of an appointment. The first call makes the meeting (once per
 * appointment: the appointment id is Chime's client request token) and an in-progress virtual
 * Encounter, and marks the appointment arrived; every call adds the caller as an attendee.
 * Join tokens go to the caller and nowhere else: not the database, not FHIR, not the audit.
 */
import type { Appointment, Encounter, Parameters, Resource } from 'fhir/r4.js';
import { FhirError } from '../../fhir/errors.js';
import type { Meeting } from '../../video/video-provider.js';
import { bookedActors } from '../../workflow/appointment-ledger.js';
import {
  forbidden,
  hasRole,
  ownPatient,
  patientIds,
  scopeAllows,
  userReference,
} from '../caller.js';
import { SERVER, valueOf, type OperationCall, type OperationResult } from '../operation.js';
import { video } from './visit-errors.js';

interface VisitRow {
  meeting_id: string;
  external_meeting_id: string;
  media_region: string;
  media_placement: Record<string, string>;
  encounter_id: string;
  ended_at: Date | string | null;
}

const STARTABLE = new Set(['booked', 'arrived', 'checked-in']);

async function appointmentOf(call: OperationCall): Promise<Appointment> {
  try {
    return (await call.tx.store.read('Appointment', call.id!, SERVER)) as Appointment;
  } catch (error) {
    if (error instanceof FhirError) {
      throw new FhirError(404, 'not-found', `Appointment/${call.id} is not known`);
    }
    throw error;
  }
}

/** The caller as a participant: `Patient/x` or `Practitioner/y`; ADMIN has no need to be one. */
export function participantOf(call: OperationCall, appointment: Appointment): string {
  const { principal } = call.ex.policy;
  const actors = bookedActors(appointment);
  if (!scopeAllows(principal, 'Appointment', 'r', patientIds(actors))) {
    throw forbidden('A visit needs a scope that allows reading Appointments');
  }
  const own = ownPatient(principal);
  if (hasRole(principal, 'PATIENT') && own && actors.includes(`Patient/${own}`)) {
    return `Patient/${own}`;
  }
  const user = userReference(principal);
  if (hasRole(principal, 'PROVIDER', 'NURSE') && user && actors.includes(user)) return user;
  if (hasRole(principal, 'ADMIN')) return user ?? `admin:${principal.subject}`;
  throw forbidden('Only the appointment’s patient or practitioner (or ADMIN) may join its visit');
}

function checkWindow(call: OperationCall, appointment: Appointment) {
  if (!STARTABLE.has(appointment.status)) {
    throw new FhirError(409, 'conflict', `Appointment/${appointment.id} is ${appointment.status}`);
  }
  const opens = Date.parse(appointment.start!) - call.services.visitEarlyMinutes * 60_000;
  const closes = Date.parse(appointment.end!);
  const now = call.now.getTime();
  if (now < opens) {
    throw new FhirError(409, 'conflict', `The visit opens at ${new Date(opens).toISOString()}`);
  }
  if (now > closes) throw new FhirError(409, 'conflict', 'The appointment is over');
}

function virtualEncounter(call: OperationCall, appointment: Appointment): Encounter {
  const actors = bookedActors(appointment);
  return {
    resourceType: 'Encounter',
    status: 'in-progress',
    class: {
      system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode',
      code: 'VR',
      display: 'virtual',
    },
    type: appointment.serviceType?.length
      ? appointment.serviceType
      : [{ text: 'Telehealth visit' }],
    subject: { reference: actors.find((a) => a.startsWith('Patient/'))! },
    participant: actors
      .filter((actor) => actor.startsWith('Practitioner/'))
      .map((actor) => ({ individual: { reference: actor } })),
    appointment: [{ reference: `Appointment/${appointment.id}` }],
    period: { start: call.now.toISOString() },
  };
}

/** The meeting and Encounter of the visit, made on the first call. */
async function openVisit(call: OperationCall, appointment: Appointment) {
  const { tx } = call;
  const [row] = await tx.sql.query<VisitRow>(
    `SELECT meeting_id, external_meeting_id, media_region, media_placement, encounter_id, ended_at
     FROM visit WHERE appointment_id = $1`,
    [appointment.id],
  );
  if (row) {
    if (row.ended_at !== null) throw new FhirError(409, 'conflict', 'This visit has ended');
    const meeting: Meeting = {
      meetingId: row.meeting_id,
      externalMeetingId: row.external_meeting_id,
      mediaRegion: row.media_region,
      mediaPlacement: row.media_placement,
    };
    return { meeting, encounterId: row.encounter_id, touched: [] as Resource[] };
  }
  const meeting = await video('create meeting', () =>
    call.services.video.createMeeting({
      externalMeetingId: appointment.id!,
      clientRequestToken: appointment.id!,
    }),
  );
  const encounter = await tx.store.create(virtualEncounter(call, appointment), SERVER);
  const arrived = await tx.store.update({ ...appointment, status: 'arrived' } as Resource, SERVER);
  await tx.sql.query(
    `INSERT INTO visit (appointment_id, meeting_id, external_meeting_id, media_region,
       media_placement, encounter_id)
     VALUES ($1, $2, $3, $4, $5::json, $6)`,
    [
      appointment.id,
      meeting.meetingId,
      meeting.externalMeetingId,
      meeting.mediaRegion,
      JSON.stringify(meeting.mediaPlacement),
      encounter.id,
    ],
  );
  return { meeting, encounterId: encounter.id!, touched: [encounter, arrived.resource] };
}

/**
 * With `launchClient`: an EHR launch of that SMART app with this visit's patient and Encounter
 * as its context, for the practitioner (or ADMIN) starting it. A patient gets no EHR launch.
 */
async function launchFor(
  call: OperationCall,
  appointment: Appointment,
  encounterId: string,
  participant: string,
): Promise<string | undefined> {
  const clientId = valueOf<string>(call, 'launchClient', 'String');
  if (clientId === undefined) return undefined;
  const { principal } = call.ex.policy;
  if (participant.startsWith('Patient/') || !hasRole(principal, 'PROVIDER', 'NURSE', 'ADMIN')) {
    throw forbidden('Only a practitioner or ADMIN may open an app in an EHR launch');
  }
  if (!call.services.mintLaunch) {
    throw new FhirError(501, 'not-supported', 'EHR launch needs the built-in authorization server');
  }
  const patient = bookedActors(appointment)
    .find((actor) => actor.startsWith('Patient/'))!
    .slice('Patient/'.length);
  const createdBy = principal.subject || participant;
  try {
    const { url } = await call.services.mintLaunch(
      call.tx.sql,
      clientId,
      { patient, encounter: encounterId },
      createdBy,
    );
    return url;
  } catch (error) {
    // The authorization server's own words (no such client), as the operation's 422.
    if ((error as { statusCode?: number }).statusCode === 400) {
      throw new FhirError(422, 'processing', `launchClient: ${(error as Error).message}`);
    }
    throw error;
  }
}

export async function startVisit(call: OperationCall): Promise<OperationResult> {
  // One visit per appointment, however many parties start it at once.
  await call.tx.sql.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 13))', [
    `visit:${call.id}`,
  ]);
  const appointment = await appointmentOf(call);
  const participant = participantOf(call, appointment);
  checkWindow(call, appointment);
  const { meeting, encounterId, touched } = await openVisit(call, appointment);
  const attendee = await video('create attendee', () =>
    call.services.video.createAttendee(meeting.meetingId, { externalUserId: participant }),
  );
  const launchUrl = await launchFor(call, appointment, encounterId, participant);
  const parameters: Parameters = {
    resourceType: 'Parameters',
    parameter: [
      { name: 'encounter', valueReference: { reference: `Encounter/${encounterId}` } },
      {
        name: 'meeting',
        part: [
          { name: 'meetingId', valueString: meeting.meetingId },
          { name: 'externalMeetingId', valueString: meeting.externalMeetingId },
          { name: 'mediaRegion', valueString: meeting.mediaRegion },
          { name: 'mediaPlacement', valueString: JSON.stringify(meeting.mediaPlacement) },
        ],
      },
      {
        name: 'attendee',
        part: [
          { name: 'attendeeId', valueString: attendee.attendeeId },
          { name: 'joinToken', valueString: attendee.joinToken },
        ],
      },
      ...(launchUrl ? [{ name: 'launchUrl', valueUri: launchUrl }] : []),
    ],
  };
  return { status: 200, resource: parameters, touched: [appointment, ...touched] };
}
