/**
 * The search parameters AuditEvent answers. AuditEvents are one row each in their own table
 * (src/store/postgres/audit-event-sql.ts gives every one of these a column with its own index),
 * not in the generic index tables, so this is the list, and the CapabilityStatement advertises
 * exactly it.
 */
export const AUDIT_EVENT_SEARCH_PARAMS = [
  '_id',
  '_lastUpdated',
  'date',
  'patient',
  'agent',
  'entity',
  'type',
  'subtype',
  'purpose-of-use',
  'action',
  'outcome',
  'request-id',
  'altid',
  'address',
] as const;

export type AuditEventSearchParam = (typeof AUDIT_EVENT_SEARCH_PARAMS)[number];
