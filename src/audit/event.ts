import type { AuditEvent, AuditEventAgent, AuditEventEntity, CodeableConcept } from 'fhir/r4.js';

export type AuditInteraction =
  | 'read'
  | 'vread'
  | 'search'
  | 'create'
  | 'update'
  | 'delete'
  | 'history'
  | 'history-type'
  | 'history-system'
  | 'operation'
  | 'patch'
  | 'batch'
  | 'transaction';

export type AuditOutcome = 'success' | 'minor' | 'serious' | 'major';

export interface AuditInput {
  interaction: AuditInteraction;
  outcome: AuditOutcome;
  /** The token's fhirUser as a reference when it has one. */
  who: { reference?: string; display?: string };
  /** The token's `sub`: the agent's identifier when there is no fhirUser reference. */
  subject: string;
  clientId?: string;
  /** The caller's IP address. */
  address?: string;
  requestId: string;
  /** What was touched, as `Type/id` references. */
  entities: {
    reference: string;
    role?: 'patient' | 'domain';
    /** Practitioners a write assigns to the resource's patients (`Practitioner/id`). */
    assigns?: string[];
  }[];
  /** The patient whose data this is (`Patient/id`), when known. */
  patient?: string;
  /** Break-glass: v3-ActReason BTG (the default system), with the stated reason. */
  purposeOfUse?: { code: string; system?: string; display?: string };
  reason?: string;
  /** A search's query string: only its parameter NAMES are kept. */
  query?: string;
  recorded?: Date;
}

export const AUDIT_EVENT_TYPE = 'http://terminology.hl7.org/CodeSystem/audit-event-type';
export const RESTFUL_INTERACTION = 'http://hl7.org/fhir/restful-interaction';
export const ACT_REASON = 'http://terminology.hl7.org/CodeSystem/v3-ActReason';
export const ENTITY_TYPE = 'http://terminology.hl7.org/CodeSystem/audit-entity-type';
export const OBJECT_ROLE = 'http://terminology.hl7.org/CodeSystem/object-role';
export const SOURCE_TYPE = 'http://terminology.hl7.org/CodeSystem/security-source-type';
/** IHE Basic Audit Log Patterns: the entity that carries the request's X-Request-Id. */
export const BALP_ENTITY_TYPE = 'https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType';

/** The restful-interaction code and AuditEvent.action of each interaction. */
const INTERACTIONS: Record<AuditInteraction, { code: string; action: AuditEvent['action'] }> = {
  read: { code: 'read', action: 'R' },
  vread: { code: 'vread', action: 'R' },
  // Queries are E (execute) in the action code system, as IHE BALP's Query pattern records them.
  search: { code: 'search-type', action: 'E' },
  history: { code: 'history-instance', action: 'R' },
  'history-type': { code: 'history-type', action: 'R' },
  'history-system': { code: 'history-system', action: 'R' },
  create: { code: 'create', action: 'C' },
  update: { code: 'update', action: 'U' },
  patch: { code: 'patch', action: 'U' },
  delete: { code: 'delete', action: 'D' },
  operation: { code: 'operation', action: 'E' },
  batch: { code: 'batch', action: 'E' },
  transaction: { code: 'transaction', action: 'E' },
};

const OUTCOMES: Record<AuditOutcome, AuditEvent['outcome']> = {
  success: '0',
  minor: '4',
  serious: '8',
  major: '12',
};

/** The audit copy of a server-side observer, shared by every event this server writes. */
export const TELEFHIR_SOURCE: AuditEvent['source'] = {
  observer: { display: 'telefhir' },
  type: [{ system: SOURCE_TYPE, code: '4', display: 'Application Server' }],
};

/**
 * Names only: values can be identifiers, names or dates of birth (PHI), and anything that
 * doesn't look like a parameter name (a value pasted as a name) is counted, not kept.
 */
export function searchParameterNames(query: string): string {
  const names = new Set<string>();
  let other = 0;
  for (const name of new URLSearchParams(query.replace(/^\?/, '')).keys()) {
    if (/^[A-Za-z_][A-Za-z0-9_.:-]{0,100}$/.test(name) && !/^[0-9.:-]+$/.test(name)) {
      names.add(name);
    } else other++;
  }
  return [...names, ...(other ? [`(${other} other)`] : [])].join(',');
}

function purpose(input: AuditInput): CodeableConcept[] | undefined {
  if (!input.purposeOfUse) return undefined;
  const { code, system = ACT_REASON, display } = input.purposeOfUse;
  const coding = { system, code, ...(display ? { display } : {}) };
  return [{ coding: [coding], ...(input.reason ? { text: input.reason } : {}) }];
}

function entity(reference: string, role: 'patient' | 'domain'): AuditEventEntity {
  return role === 'patient'
    ? {
        what: { reference },
        type: { system: ENTITY_TYPE, code: '1', display: 'Person' },
        role: { system: OBJECT_ROLE, code: '1', display: 'Patient' },
      }
    : {
        what: { reference },
        type: { system: ENTITY_TYPE, code: '2', display: 'System Object' },
        role: { system: OBJECT_ROLE, code: '4', display: 'Domain Resource' },
      };
}

function entities(input: AuditInput): AuditEventEntity[] {
  const list: AuditEventEntity[] = [
    {
      what: { identifier: { value: input.requestId } },
      type: { system: BALP_ENTITY_TYPE, code: 'XrequestId', display: 'X-Request-Id' },
      detail: [{ type: 'request-id', valueString: input.requestId }],
    },
  ];
  const seen = new Set<string>();
  for (const { reference, role, assigns } of input.entities) {
    if (seen.has(reference)) continue;
    seen.add(reference);
    const made = entity(
      reference,
      role ?? (reference.startsWith('Patient/') ? 'patient' : 'domain'),
    );
    // Who gave a practitioner access to a patient: this event's agent, by this write.
    if (assigns?.length) made.detail = assigns.map((p) => ({ type: 'assigns', valueString: p }));
    list.push(made);
  }
  if (input.patient && !seen.has(input.patient)) list.push(entity(input.patient, 'patient'));
  if (input.query !== undefined) {
    list.push({
      type: { system: ENTITY_TYPE, code: '2', display: 'System Object' },
      role: { system: OBJECT_ROLE, code: '24', display: 'Query' },
      detail: [{ type: 'search-parameters', valueString: searchParameterNames(input.query) }],
    });
  }
  return list;
}

/**
 * One REST interaction as an R4 AuditEvent (type `rest`, the interaction as subtype), shaped
 * after IHE BALP. It records who, from where, why, and which resources — never request or
 * response bodies, search values or tokens.
 */
export function buildAuditEvent(input: AuditInput): AuditEvent {
  const { code, action } = INTERACTIONS[input.interaction];
  const purposeOfUse = purpose(input);
  const who = input.who.reference
    ? { reference: input.who.reference }
    : { identifier: { value: input.subject } };
  const agent: AuditEventAgent = {
    who: { ...who, ...(input.who.display ? { display: input.who.display } : {}) },
    ...(input.clientId ? { altId: input.clientId } : {}),
    requestor: true,
    ...(input.address ? { network: { address: input.address, type: '2' as const } } : {}),
    ...(purposeOfUse ? { purposeOfUse } : {}),
  };
  return {
    resourceType: 'AuditEvent',
    type: { system: AUDIT_EVENT_TYPE, code: 'rest', display: 'RESTful Operation' },
    subtype: [{ system: RESTFUL_INTERACTION, code, display: code }],
    action,
    recorded: (input.recorded ?? new Date()).toISOString(),
    outcome: OUTCOMES[input.outcome],
    ...(purposeOfUse ? { purposeOfEvent: purposeOfUse } : {}),
    agent: [agent],
    source: TELEFHIR_SOURCE,
    entity: entities(input),
  };
}
