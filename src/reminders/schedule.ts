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

/**
 * The patient a message to `recipient` is about, its Communication's subject (and so whose
 * record it lands in): a patient's own message is theirs alone, never another patient's in the
 * same visit. A practitioner's message names the patient only when the visit has exactly one;
 * with several (a family or group visit) it names none, since choosing one would put a message
 * also about the others in that one's record, readable by them and their guardians.
 */
export function subjectFor(recipient: string, actors: readonly string[]): string | null {
  if (recipient.startsWith('Patient/')) return recipient;
  const patients = actors.filter((a) => a.startsWith('Patient/'));
  return patients.length === 1 ? patients[0]! : null;
}

/** SQL for the subject of each recipient `r`: itself when a Patient, else `$sole`. */
const subjectSql = (sole: string) => `CASE WHEN r LIKE 'Patient/%' THEN r ELSE ${sole} END`;
const solePatient = (actors: readonly string[]) => subjectFor('', actors);

const DROP_PENDING = `DELETE FROM reminder WHERE appointment_id = $1 AND state = 'pending'`;

async function notice(
  sql: Sql,
  id: string,
  kind: ReminderKind,
  recipients: string[],
  actors: readonly string[],
  start: string,
  now: Date,
) {
  if (!recipients.length) return;
  await sql.query(
    `INSERT INTO reminder (appointment_id, recipient, patient, kind, visit_start, due_at, next_attempt_at)
     SELECT $1, r, ${subjectSql('$3')}, $4, $5::timestamptz, $6::timestamptz, $6::timestamptz FROM unnest($2::text[]) AS r`,
    [id, recipients, solePatient(actors), kind, start, now.toISOString()],
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
     SELECT $1, r, ${subjectSql('$3')}, 'reminder', $4::timestamptz, d, d
     FROM unnest($2::text[]) AS r, unnest($5::timestamptz[]) AS d
     ON CONFLICT (appointment_id, recipient, kind, due_at) WHERE kind = 'reminder' DO NOTHING`,
    [id, recipients, solePatient(recipients), appointment.start, due],
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
        if (!isBooked(before)) {
          await sql.query(DROP_PENDING, [id]);
          await notice(sql, id, 'booked', people, people, after.start, now);
        } else if (Date.parse(before.start) !== Date.parse(after.start)) {
          await sql.query(DROP_PENDING, [id]);
          await notice(sql, id, 'rescheduled', people, people, after.start, now);
        } else {
          // The same booking re-saved: whoever left hears nothing more, whoever joined is told.
          await sql.query(
            `DELETE FROM reminder WHERE appointment_id = $1 AND state = 'pending'
               AND NOT (recipient = ANY($2::text[]))`,
            [id, people],
          );
          const earlier = new Set(bookedActors(before));
          const joined = people.filter((p) => !earlier.has(p));
          await notice(sql, id, 'booked', joined, people, after.start, now);
        }
        await scheduleReminders(sql, id, after, options.offsetsMinutes, now);
        return;
      }
      if (!isBooked(before)) return;
      await sql.query(DROP_PENDING, [id]);
      if (after === undefined || CANCELLING.has(after.status)) {
        const people = bookedActors(before);
        await notice(sql, id, 'cancelled', people, people, before.start, now);
      }
    },
  };
}
