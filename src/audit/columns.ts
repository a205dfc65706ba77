/**
 * The searched columns of one AuditEvent (008_audit_event.sql), worked out in JavaScript from
 * the event the writer already holds, exactly as the database's audit_event_index() derives
 * them from its JSON. The append sends them as parameters, so Postgres no longer parses each
 * event's JSON into jsonb and walks it in plpgsql (~55 µs of a ~145 µs append per event:
 * bench/RESULTS.md). audit_event_index() stays the definition: the migration filled the
 * columns with it, the one-statement read (read-audited.ts) still uses it, and audit:verify
 * recomputes it for every row, so a column this code got wrong is reported there;
 * test/audit/columns.test.ts checks the two agree on every kind of event the server writes.
 *
 * Arrays are de-duplicated here but ordered by the append statement in SQL, so they take the
 * database's collation as audit_event_index's `ORDER BY` does (JavaScript's order is the C
 * collation's, not every database's).
 */
import type { AuditEvent, Coding, Reference } from 'fhir/r4.js';

export interface AuditColumns {
  recorded: string;
  lastUpdated: string;
  patient: string[];
  agent: string[];
  entity: string[];
  type: string[];
  subtype: string[];
  action: string | null;
  outcome: string | null;
  purposeOfUse: string[];
  requestId: string | null;
  altid: string[];
  address: string[];
}

/** `Type/id` at the end of a reference, as `substring(ref FROM '([A-Za-z]+/[A-Za-z0-9.-]+)$')`. */
const TRAILING_REFERENCE = /([A-Za-z]+\/[A-Za-z0-9.-]+)$/;

/** `->>` on a jsonb value: strings as they are, other scalars and objects as JSON, null as null. */
function text(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** audit_reference_keys: each reference's trailing `Type/id`, and the bare id. */
function referenceKeys(refs: readonly (Reference | undefined)[]): Set<string> {
  const keys = new Set<string>();
  for (const ref of refs) {
    const reference = text(ref?.reference);
    const found = reference === null ? undefined : TRAILING_REFERENCE.exec(reference)?.[1];
    if (!found) continue;
    keys.add(found);
    const id = found.split('/')[1];
    if (id) keys.add(id);
  }
  return keys;
}

/** audit_coding_keys: `code`, `system|code` (`|code` without a system) and `system|`. */
function codingKeys(codings: readonly (Coding | undefined)[]): Set<string> {
  const keys = new Set<string>();
  for (const coding of codings) {
    if (!coding || typeof coding !== 'object') continue;
    const code = text(coding.code);
    const system = text(coding.system);
    if (code !== null) keys.add(code).add(`${system ?? ''}|${code}`);
    if (system !== null) keys.add(`${system}|`);
  }
  return keys;
}

export function auditColumns(event: AuditEvent): AuditColumns {
  const agents = event.agent ?? [];
  const entities = event.entity ?? [];
  const agent = referenceKeys(agents.map((a) => a.who));
  const entity = referenceKeys(entities.map((e) => e.what));
  const patient = new Set<string>();
  for (const key of [...agent, ...entity]) {
    if (key.startsWith('Patient/')) patient.add(key.split('/')[1]!);
  }
  const purposes = [
    ...(event.purposeOfEvent ?? []).flatMap((p) => p.coding ?? []),
    ...agents.flatMap((a) => (a.purposeOfUse ?? []).flatMap((p) => p.coding ?? [])),
  ];
  const requestEntity = entities.find((e) => text(e.type?.code) === 'XrequestId');
  const distinct = (values: (string | null)[]) =>
    new Set(values.filter((value): value is string => value !== null));
  const recorded = event.recorded;
  return {
    recorded,
    lastUpdated: event.meta?.lastUpdated ?? recorded,
    patient: [...patient],
    agent: [...agent],
    entity: [...entity],
    type: [...codingKeys([event.type])],
    subtype: [...codingKeys(event.subtype ?? [])],
    action: text(event.action),
    outcome: text(event.outcome),
    purposeOfUse: [...codingKeys(purposes)],
    requestId: requestEntity ? text(requestEntity.what?.identifier?.value) : null,
    altid: [...distinct(agents.map((a) => text(a.altId)))],
    address: [...distinct(agents.map((a) => text(a.network?.address)))],
  };
}

/** A Postgres array literal of texts: every element quoted, `"` and `\` escaped. */
export function textArrayLiteral(values: readonly string[]): string {
  return `{${values.map((value) => `"${value.replace(/["\\]/g, '\\$&')}"`).join(',')}}`;
}
