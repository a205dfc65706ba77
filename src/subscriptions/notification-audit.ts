/**
 * A delivered notification as an Export AuditEvent: the owner as agent, the Subscription and
 * the resource version sent as entities, and the resource's patients so it shows in their
 * audit trail. Never the body, the endpoint or the criteria.
 */
import type { AuditEvent, Resource } from 'fhir/r4.js';
import { buildAuditEvent } from '../audit/event.js';
import { patientsOf } from '../audit/patients.js';
import { principalFrom, type TokenClaims } from '../auth/claims.js';
import type { GrantClaims } from './owner.js';

/** DICOM 110106 Export: data sent out of the server, as a notification sends a resource. */
export const EXPORT_EVENT = {
  system: 'http://dicom.nema.org/resources/ontology/DCM',
  code: '110106',
  display: 'Export',
};
export const NOTIFICATION_SUBTYPE = {
  system: 'https://telefhir.dev/fhir/CodeSystem/audit-event-subtype',
  code: 'subscription-notification',
  display: 'Subscription notification',
};

export function notificationAuditEvent(sent: {
  subscription: string;
  /** The owner's grant, kept with the Subscription. */
  claims: GrantClaims;
  /** The notification id (the same on every attempt). */
  notification: string;
  /** `Type/id` of the resource the notification is about. */
  sent: string;
  version: string | null;
  /** The version sent, when there was a body to send (for its patients). */
  resource: Resource | undefined;
  baseUrl: string | undefined;
}): AuditEvent {
  const principal = principalFrom(sent.claims as TokenClaims);
  const user = principal.fhirUser;
  const event = buildAuditEvent({
    interaction: 'operation',
    outcome: 'success',
    who: user ? { reference: `${user.type}/${user.id}` } : {},
    subject: principal.subject,
    ...(principal.clientId ? { clientId: principal.clientId } : {}),
    requestId: `notification-${sent.notification}`,
    entities: [
      { reference: `Subscription/${sent.subscription}`, role: 'domain' },
      {
        reference: sent.version ? `${sent.sent}/_history/${sent.version}` : sent.sent,
        role: 'domain',
      },
      ...(sent.resource ? patientsOf(sent.resource, sent.baseUrl) : []).map((patient) => ({
        reference: patient,
        role: 'patient' as const,
      })),
    ],
  });
  event.type = EXPORT_EVENT;
  event.subtype = [NOTIFICATION_SUBTYPE];
  event.action = 'R';
  // The owner is who the data went to, not who asked for this send (the server did).
  event.agent[0]!.requestor = false;
  return event;
}
