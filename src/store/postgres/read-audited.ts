/**
 * The read and its AuditEvent in one statement: `GET /fhir/{type}/{id}` reads the current row
 * under the caller's grant AND appends the read's AuditEvent to a free audit lane, in one
 * round trip and one commit, and hands back the stored JSON text to be sent as is. The event
 * names the resource's patients, which only the row knows: they come from its compartment
 * references in idx_reference, and the statement splices them into the event's JSON and
 * canonical JSON (the placeholder entity below) before hashing, exactly as the writer would
 * have hashed the event built in JS (writer.ts; audit:verify recomputes it).
 */
import type { AuditEvent, AuditEventEntity } from 'fhir/r4.js';
import type { AuditBatcher } from '../../audit/batcher.js';
import type { Sql } from '../../db/database.js';
import type { StoredText } from '../store.js';
import { PATIENT_ITSELF, patientsNamedParams } from '../../auth/compartment.js';
import { buildAuditEvent } from '../../audit/event.js';
import { canonicalJson } from '../../audit/chain.js';
import { AUDIT_LANES, storedAuditEvent } from '../../audit/writer.js';
import { accessCondition, type Visibility } from './access-sql.js';
import { Binds } from './search-sql.js';

/** Stands where the patients' entities go; only this exact JSON object is replaced. */
const PLACEHOLDER: AuditEventEntity = { what: { reference: 'urn:telefhir:audit:patients' } };
const PLACEHOLDER_TEXT = JSON.stringify(PLACEHOLDER);

/** The patient entity buildAuditEvent makes, as JSON and canonical JSON around its reference. */
const MARK = 'Patient/telefhir-patient-mark';
const patientEntity = buildAuditEvent({
  interaction: 'read',
  outcome: 'success',
  who: {},
  subject: 's',
  requestId: 'r',
  entities: [{ reference: MARK, role: 'patient' }],
}).entity![1]!;
const around = (text: string): [string, string] => {
  const [before, after] = text.split(JSON.stringify(MARK));
  return [before!, after!];
};
const [JSON_BEFORE, JSON_AFTER] = around(JSON.stringify(patientEntity));
const [CANON_BEFORE, CANON_AFTER] = around(canonicalJson(patientEntity));

const links = new Map<string, string[]>();
function linksOf(type: string): string[] {
  let codes = links.get(type);
  if (!codes) {
    codes = patientsNamedParams(type).filter((code) => code !== PATIENT_ITSELF);
    links.set(type, codes);
  }
  return codes;
}

export interface AuditedRow {
  json: string;
  version_id: number;
  last_updated: Date | string;
  /** 0 when every lane was busy: the caller appends the event another way before answering. */
  appended: number;
  /** The patients spliced into the event (ids), for that other way. */
  patients: string[];
}

/**
 * The statement and its parameters. `event` is the stored event (storedAuditEvent), naming the
 * resource (and, for a Patient, itself) but not yet the patients the row refers to. Without
 * `append` it only reads the row and its patients (the caller appends the event itself).
 */
export function readAuditedStatement(
  type: string,
  id: string,
  seen: Visibility,
  event: AuditEvent,
  append = true,
): { text: string; values: unknown[] } {
  const b = new Binds();
  const t = b.add(type);
  const i = b.add(id);
  const visible = accessCondition(b, 'r', type, seen);
  const known = (event.entity ?? []).flatMap((e) =>
    e.what?.reference?.startsWith('Patient/') ? [e.what.reference] : [],
  );
  const read = `
  r AS (SELECT r.content::text AS json, r.version_id, r.last_updated FROM resource_current r
        WHERE r.resource_type = ${t} AND r.id = ${i} AND NOT r.deleted AND ${visible}),
  pats AS (SELECT DISTINCT x.target_id AS id FROM idx_reference x
           WHERE EXISTS (SELECT 1 FROM r) AND x.resource_type = ${t} AND x.id = ${i}
             AND x.code = ANY(${b.add(linksOf(type))}::text[]) AND x.target_type = 'Patient'
             AND x.target_id IS NOT NULL
             AND ('Patient/' || x.target_id) <> ALL(${b.add(known)}::text[]))`;
  const appended = append ? `(SELECT count(*)::int FROM link)` : '0';
  const text = `
WITH${read}${append ? `,${appendPart(b, event)}` : ''}
SELECT r.json, r.version_id, r.last_updated, ${appended} AS appended,
  ARRAY(SELECT p.id FROM pats p ORDER BY p.id) AS patients
FROM r`;
  return { text, values: b.values };
}

/** The CTEs that build the event from `r` and `pats` and append it to a free lane. */
function appendPart(b: Binds, event: AuditEvent): string {
  const withPlaceholder: AuditEvent = { ...event, entity: [...(event.entity ?? []), PLACEHOLDER] };
  const splice = (template: string, before: string, after: string) =>
    `replace(${b.add(template)}::text, ${b.add(`,${PLACEHOLDER_TEXT}`)}::text,
       coalesce((SELECT string_agg(',' || ${b.add(before)}::text || to_json('Patient/' || p.id)::text
                                   || ${b.add(after)}::text, '' ORDER BY p.id) FROM pats p), ''))`;
  return `
  ev AS (SELECT ${splice(canonicalJson(withPlaceholder), CANON_BEFORE, CANON_AFTER)} AS canonical,
                ${splice(JSON.stringify(withPlaceholder), JSON_BEFORE, JSON_AFTER)} AS json
         FROM r),
  head AS (SELECT lane, hash FROM audit_chain_head WHERE EXISTS (SELECT 1 FROM r)
           ORDER BY (lane + ${AUDIT_LANES} - ${b.add(Math.floor(Math.random() * AUDIT_LANES))}::int)
             % ${AUDIT_LANES}
           LIMIT 1 FOR UPDATE SKIP LOCKED),
  link AS (
    INSERT INTO audit_event (lane, id, recorded, last_updated, prev_hash, hash, patient, agent,
      entity, type, subtype, action, outcome, purpose_of_use, request_id, altid, address, json)
    SELECT head.lane, ${b.add(event.id)}, x.recorded, x.last_updated, head.hash,
      encode(sha256(convert_to(head.hash || chr(10) || ev.canonical, 'UTF8')), 'hex'),
      x.patient, x.agent, x.entity, x.type, x.subtype, x.action, x.outcome, x.purpose_of_use,
      x.request_id, x.altid, x.address, ev.json
    FROM ev CROSS JOIN head CROSS JOIN LATERAL audit_event_index(ev.json::jsonb) x
    RETURNING 1)`;
}

/** The event with the patients' entities, as the statement would have stored it. */
export function withPatients(event: AuditEvent, patients: string[]): AuditEvent {
  const entities = patients.map(
    (id) => ({ ...patientEntity, what: { reference: `Patient/${id}` } }) satisfies AuditEventEntity,
  );
  return { ...event, entity: [...(event.entity ?? []), ...entities] };
}

/**
 * Alone, one statement reads the row and appends its event in autocommit: one round trip,
 * committed when it returns. Under concurrency that statement would hold an audit lane until
 * its own commit while the batcher commits dozens of events at once (bench/RESULTS.md,
 * "step 3"), so then the row and its patients are read and the event goes through the
 * batcher: two round trips, group-committed. Either way the text is the stored one, and the
 * promise resolves only once the event is durable (fail-closed). Prepared under the name of its
 * text (db/statement-names.ts; the text varies only with the shape of the caller's grant).
 */
export async function readAndAudit(
  sql: Sql,
  batcher: AuditBatcher,
  reading: { alone: number },
  read: { type: string; id: string; seen: Visibility; event: AuditEvent },
): Promise<StoredText | undefined> {
  const stored = storedAuditEvent(read.event);
  const alone = reading.alone === 0 && !batcher.busy;
  const { text, values } = readAuditedStatement(read.type, read.id, read.seen, stored, alone);
  if (alone) reading.alone++;
  let row: AuditedRow | undefined;
  try {
    [row] = await sql.query<AuditedRow>(text, values);
  } finally {
    if (alone) reading.alone--;
  }
  if (!row) return undefined;
  // Not appended: the batcher's way, or every lane was busy.
  if (row.appended !== 1) await batcher.append(withPatients(stored, row.patients));
  return {
    json: row.json,
    versionId: String(row.version_id),
    lastUpdated: new Date(row.last_updated).toISOString(),
  };
}
