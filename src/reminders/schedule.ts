/**
 * The reminder hook: keeps `reminder` rows in step with every Appointment write, whichever way
 * it arrives (REST, a Bundle, $book, $cancel), in the write's own transaction. A booked
 * appointment gets a "booked" notice and a reminder at each offset before its start that is
 * still ahead; a new start replaces what was pending with a "rescheduled" notice and new
 * reminders; a cancelled or deleted one drops what was pending and gets a "cancelled" notice.
 * Rows name people by reference only: addresses and text are found when a row is sent.
 */
import type { Appointment } from 'fhir/r4.js';
import type { Sql } from '../db/database.js';
import type { WriteHook } from '../store/write-hook.js';
import { bookedActors } from '../workflow/appointment-ledger.js';

export type ReminderKind = 'reminder' | 'booked' | 'rescheduled' | 'cancelled';

/** Ends that the people taking part must hear about; arrived, fulfilled or noshow need no word. */
const CANCELLING: ReadonlySet<string> = new Set(['cancelled', 'entered-in-error']);

export function isBooked(appointment: Appointment | undefined): appointment is Appointment & {
  start: string;
} {
  return Boolean(
    appointment?.status === 'booked' &&
    appointment.start &&
    !Number.isNaN(Date.parse(appointment.start)),
  );
}

const patientOf = (actors: string[]) => actors.find((a) => a.startsWith('Patient/')) ?? null;

const DROP_PENDING = `DELETE FROM reminder WHERE appointment_id = $1 AND state = 'pending'`;

async function notice(
  sql: Sql,
  id: string,
  kind: ReminderKind,
  recipients: string[],
  patient: string | null,
  start: string,
  now: Date,
) {
  if (!recipients.length) return;
  await sql.query(
    `INSERT INTO reminder (appointment_id, recipient, patient, kind, visit_start, due_at, next_attempt_at)
     SELECT $1, r, $3, $4, $5::timestamptz, $6::timestamptz, $6::timestamptz FROM unnest($2::text[]) AS r`,
    [id, recipients, patient, kind, start, now.toISOString()],
  );
}

async function scheduleReminders(
  sql: Sql,
  id: string,
  appointment: Appointment & { start: string },
  offsetsMinutes: readonly number[],
  now: Date,
) {
  const recipients = bookedActors(appointment);
  const start = Date.parse(appointment.start);
  // Offsets already past are skipped: a visit booked 30 minutes ahead gets no 24 h reminder.
  const due = offsetsMinutes
    .map((minutes) => start - minutes * 60_000)
    .filter((at) => at > now.getTime())
    .map((at) => new Date(at).toISOString());
  if (!recipients.length || !due.length) return;
  await sql.query(
    `INSERT INTO reminder (appointment_id, recipient, patient, kind, visit_start, due_at, next_attempt_at)
     SELECT $1, r, $3, 'reminder', $4::timestamptz, d, d
     FROM unnest($2::text[]) AS r, unnest($5::timestamptz[]) AS d
     ON CONFLICT (appointment_id, recipient, kind, due_at) WHERE kind = 'reminder' DO NOTHING`,
    [id, recipients, patientOf(recipients), appointment.start, due],
  );
}

export interface ReminderHookOptions {
  offsetsMinutes: readonly number[];
  /** The clock (tests inject one). */
  now: () => Date;
}

export function reminderHook(options: ReminderHookOptions): WriteHook {
  return {
    async afterWrite({ sql }, type, id, resource, previous) {
      if (type !== 'Appointment') return;
      const after = resource as Appointment | undefined;
      const before = previous as Appointment | undefined;
      const now = options.now();
      if (isBooked(after)) {
        const people = bookedActors(after);
        const patient = patientOf(people);
        if (!isBooked(before)) {
          await sql.query(DROP_PENDING, [id]);
          await notice(sql, id, 'booked', people, patient, after.start, now);
        } else if (Date.parse(before.start) !== Date.parse(after.start)) {
          await sql.query(DROP_PENDING, [id]);
          await notice(sql, id, 'rescheduled', people, patient, after.start, now);
        } else {
          // The same booking re-saved: whoever left hears nothing more, whoever joined is told.
          await sql.query(
            `DELETE FROM reminder WHERE appointment_id = $1 AND state = 'pending'
               AND NOT (recipient = ANY($2::text[]))`,
            [id, people],
          );
          const earlier = new Set(bookedActors(before));
          const joined = people.filter((p) => !earlier.has(p));
          await notice(sql, id, 'booked', joined, patient, after.start, now);
        }
        await scheduleReminders(sql, id, after, options.offsetsMinutes, now);
        return;
      }
      if (!isBooked(before)) return;
      await sql.query(DROP_PENDING, [id]);
      if (after === undefined || CANCELLING.has(after.status)) {
        const people = bookedActors(before);
        await notice(sql, id, 'cancelled', people, patientOf(people), before.start, now);
      }
    },
  };
}
