/**
 * Keeps `appointment_booking` in step with every Appointment write, whichever way it arrives
 * ($book, PUT, a transaction Bundle, $cancel), in the write's own transaction: an active
 * appointment holds its time for each practitioner and patient taking part, and the database's
 * EXCLUDE constraint refuses a second hold of one person's overlapping time. An appointment that
 * becomes inactive gives its time back, and its Slot too.
 */
import type { Appointment, Resource, Slot } from 'fhir/r4.js';
import { FhirError } from '../fhir/errors.js';
import { parseReference } from '../search/references.js';
import type { Sql } from '../db/database.js';
import type { WriteHook } from '../store/write-hook.js';
import type { FhirStore, RequestContext } from '../store/store.js';

/** Statuses that hold no time: R4's cancelled, noshow and entered-in-error. */
export const INACTIVE_STATUSES: ReadonlySet<string> = new Set([
  'cancelled',
  'noshow',
  'entered-in-error',
]);

const SERVER: RequestContext = { requestId: 'appointment-ledger', access: 'unrestricted' };

/** `Practitioner/x` and `Patient/y` of the participants who haven't declined. */
export function bookedActors(appointment: Appointment): string[] {
  const actors = new Set<string>();
  for (const participant of appointment.participant ?? []) {
    if (participant.status === 'declined') continue;
    const reference = participant.actor?.reference;
    const parsed = reference ? parseReference(reference) : undefined;
    if (!parsed?.targetId) continue;
    if (parsed.targetType === 'Practitioner' || parsed.targetType === 'Patient') {
      actors.add(`${parsed.targetType}/${parsed.targetId}`);
    }
  }
  return [...actors];
}

function holdsTime(appointment: Appointment | undefined): appointment is Appointment {
  return Boolean(
    appointment &&
    !INACTIVE_STATUSES.has(appointment.status) &&
    appointment.start &&
    appointment.end,
  );
}

const clashError = (who: string, other: string | undefined) =>
  new FhirError(
    409,
    'conflict',
    other
      ? `${who} already has Appointment/${other} at an overlapping time`
      : `${who} was booked at an overlapping time by a concurrent request`,
  );

/** Names an existing clash before inserting, so the client hears which appointment it is. */
async function findClash(sql: Sql, id: string, actors: string[], start: string, end: string) {
  const rows = await sql.query<{ appointment_id: string; actor: string }>(
    `SELECT appointment_id, actor FROM appointment_booking
     WHERE actor = ANY($1::text[]) AND period && tstzrange($2::timestamptz, $3::timestamptz, '[)')
       AND appointment_id <> $4
     ORDER BY actor LIMIT 1`,
    [actors, start, end, id],
  );
  return rows[0];
}

/** Gives back what an appointment held. */
const CLEAR = 'DELETE FROM appointment_booking WHERE appointment_id = $1';

/**
 * The same, and then a lock per person, taken in sorted order: the ORDER BY is in a subquery
 * whose rows the outer query locks as they come, one at a time.
 */
const CLEAR_AND_LOCK = `
WITH cleared AS (${CLEAR})
SELECT count(pg_advisory_xact_lock(hashtextextended(k.key, 7)))::int AS locked
FROM (SELECT key FROM unnest($2::text[]) AS key ORDER BY key COLLATE "C") AS k`;

async function hold(sql: Sql, id: string, appointment: Appointment) {
  const actors = bookedActors(appointment);
  if (!actors.length) {
    await sql.query(CLEAR, [id]);
    return;
  }
  const { start, end } = appointment as Required<Pick<Appointment, 'start' | 'end'>>;
  if (Date.parse(end) <= Date.parse(start)) {
    throw new FhirError(422, 'invariant', 'Appointment.end must be after Appointment.start');
  }
  // One booking per person at a time: two transactions inserting overlapping holds would each
  // wait for the other inside the constraint check (a deadlock). Locks taken in sorted order
  // queue them instead, and the second then sees the first's hold and names it. One statement
  // with the clearing of this appointment's earlier holds: one round trip, not one per person.
  await sql.query(CLEAR_AND_LOCK, [id, actors.map((actor) => `booking:${actor}`)]);
  const clash = await findClash(sql, id, actors, start, end);
  if (clash) throw clashError(clash.actor, clash.appointment_id);
  try {
    await sql.query(
      `INSERT INTO appointment_booking (appointment_id, actor, period)
       SELECT $1, actor, tstzrange($3::timestamptz, $4::timestamptz, '[)')
       FROM unnest($2::text[]) AS actor`,
      [id, actors, start, end],
    );
  } catch (error) {
    // Another transaction committed an overlapping hold after our look: the constraint caught it.
    const code = (error as { code?: string }).code;
    if (code === '23P01' || code === '40P01') throw clashError(actors.join(' or '), undefined);
    throw error;
  }
}

/** The Slots of an appointment that stopped holding time become free again. */
async function freeSlots(store: FhirStore, appointment: Appointment) {
  for (const ref of appointment.slot ?? []) {
    const parsed = ref.reference ? parseReference(ref.reference) : undefined;
    if (parsed?.targetType !== 'Slot' || !parsed.targetId) continue;
    let slot: Slot;
    try {
      slot = (await store.read('Slot', parsed.targetId, SERVER)) as Slot;
    } catch {
      continue; // gone or deleted: nothing to free
    }
    if (slot.status === 'busy') await store.update({ ...slot, status: 'free' } as Resource, SERVER);
  }
}

export function appointmentLedger(): WriteHook {
  return {
    async afterWrite({ sql, store }, type, id, resource, previous) {
      if (type !== 'Appointment') return;
      const now = resource as Appointment | undefined;
      const before = previous as Appointment | undefined;
      if (holdsTime(now)) return hold(sql, id, now);
      await sql.query(CLEAR, [id]);
      if (holdsTime(before)) await freeSlots(store, before);
    },
  };
}
