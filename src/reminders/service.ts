/**
 * Sends due reminder rows (schedule.ts writes them), on a timer in every replica and from
 * tests through `runDue`, with an injected clock.
 *
 * Once, across replicas and restarts: a row is claimed in a short transaction of its own
 * (FOR UPDATE SKIP LOCKED, then `sending` with a lease), sent, and then marked `sent` in one
 * transaction with its Communication and that write's AuditEvent. A replica never takes a row
 * another holds a live lease on, and a sent row is never claimed again. The one gap is a crash
 * (or a lease running out) after the provider accepted the message and before the mark: the
 * row is claimed again when the lease ends and sent again — at least once, by choice, because
 * a lost reminder costs a missed visit and a repeated one only a second text. An SNS FIFO
 * topic closes the gap (deduplication on the row's key); direct SMS and standard topics can't.
 */
import { randomUUID } from 'node:crypto';
import type { Appointment, Communication, Resource } from 'fhir/r4.js';
import type { FastifyBaseLogger } from 'fastify';
import { buildAuditEvent } from '../audit/event.js';
import { FhirError } from '../fhir/errors.js';
import type { ReminderConfig } from '../config.js';
import type { Notifier } from '../notify/notifier.js';
import type { FhirStore, RequestContext } from '../store/store.js';
import { bookedActors } from '../workflow/appointment-ledger.js';
import type { Workflow } from '../workflow/workflow.js';
import { contactOf, formatWhen, messageText } from './message.js';
import { isBooked, subjectFor, type ReminderKind } from './schedule.js';

const SERVER: RequestContext = { requestId: 'reminders', access: 'unrestricted' };
const MAX_ATTEMPTS = 5;
const PARTICIPATION_MODE = 'http://terminology.hl7.org/CodeSystem/v3-ParticipationMode';
const CATEGORY = 'http://terminology.hl7.org/CodeSystem/communication-category';

interface Row {
  id: string;
  appointment_id: string;
  recipient: string;
  patient: string | null;
  kind: ReminderKind;
  visit_start: Date | string;
  attempts: number;
}

export interface RunResult {
  sent: number;
  skipped: number;
  failed: number;
}

export interface ReminderService {
  /** Claims and sends what is due now; one pass. */
  runDue(): Promise<RunResult>;
  close(): Promise<void>;
}

export interface ReminderServiceOptions {
  workflow: Workflow;
  /** The clinical store, for reading appointments and people as the server. */
  store: FhirStore;
  notifier: Notifier;
  config: ReminderConfig;
  now: () => Date;
  log?: Pick<FastifyBaseLogger, 'warn'>;
  /** How long a claim holds a row before another replica may take it over. */
  leaseMs?: number;
  batch?: number;
}

/** The resource; 'gone' when deleted; undefined when not (yet) there or unreachable. */
async function readNow(
  store: FhirStore,
  reference: string,
): Promise<Resource | 'gone' | undefined> {
  const [type, id] = reference.split('/') as [string, string];
  try {
    return await store.read(type, id, SERVER);
  } catch (error) {
    return error instanceof FhirError && error.statusCode === 410 ? 'gone' : undefined;
  }
}

/** Why a row is no longer worth sending, or undefined when it still is. */
function stale(row: Row, appointment: Appointment | undefined, now: Date): string | undefined {
  const start = new Date(row.visit_start).getTime();
  if (row.kind === 'cancelled') return undefined;
  if (!isBooked(appointment)) return 'not-booked';
  if (Date.parse(appointment.start) !== start) return 'moved';
  // Only people taking part, as the appointment stands now.
  if (!bookedActors(appointment).includes(row.recipient)) return 'not-a-participant';
  if (row.kind === 'reminder' && now.getTime() >= start) return 'past';
  return undefined;
}

export function reminderService(options: ReminderServiceOptions): ReminderService {
  const { workflow, store, notifier, config, now } = options;
  const db = workflow.db;
  const leaseMs = options.leaseMs ?? 5 * 60_000;
  const batch = options.batch ?? 20;

  async function claim(at: Date): Promise<Row[]> {
    return db.transaction(async (sql) => {
      const rows = await sql.query<Row>(
        `SELECT id::text AS id, appointment_id, recipient, patient, kind, visit_start, attempts
         FROM reminder
         WHERE state IN ('pending', 'sending') AND next_attempt_at <= $1::timestamptz
         ORDER BY next_attempt_at, id LIMIT $2 FOR UPDATE SKIP LOCKED`,
        [at.toISOString(), batch],
      );
      if (rows.length) {
        await sql.query(
          `UPDATE reminder SET state = 'sending', attempts = attempts + 1,
             next_attempt_at = $2::timestamptz + make_interval(secs => $3)
           WHERE id = ANY($1::bigint[])`,
          [rows.map((r) => r.id), at.toISOString(), leaseMs / 1000],
        );
      }
      return rows;
    });
  }

  async function finish(row: Row, state: 'skipped' | 'failed', reason: string) {
    await db.query(
      `UPDATE reminder SET state = $2, last_error = $3 WHERE id = $1 AND state = 'sending'`,
      [row.id, state, reason],
    );
  }

  async function retryLater(row: Row, at: Date, reason: string) {
    const attempts = row.attempts + 1;
    if (attempts >= MAX_ATTEMPTS) return finish(row, 'failed', reason);
    // 1, 2, 4, 8 minutes.
    const backoffSecs = 60 * 2 ** (attempts - 1);
    await db.query(
      `UPDATE reminder SET state = 'pending', last_error = $3,
         next_attempt_at = $2::timestamptz + make_interval(secs => $4)
       WHERE id = $1 AND state = 'sending'`,
      [row.id, at.toISOString(), reason, backoffSecs],
    );
  }

  /**
   * The row's subject (schedule.ts `subjectFor`), and never another patient than the recipient
   * when the recipient is a patient, whatever an older row says.
   */
  const subjectOf = (row: Row) =>
    row.recipient.startsWith('Patient/') ? subjectFor(row.recipient, []) : row.patient;

  function communication(row: Row, text: string, channel: 'sms' | 'email', at: Date) {
    const subject = subjectOf(row);
    const resource: Communication = {
      resourceType: 'Communication',
      identifier: [{ system: 'urn:telefhir:reminder', value: row.id }],
      status: 'completed',
      category: [
        {
          coding: [
            { system: CATEGORY, code: row.kind === 'reminder' ? 'reminder' : 'notification' },
          ],
        },
      ],
      medium: [
        {
          coding: [
            { system: PARTICIPATION_MODE, code: channel === 'sms' ? 'SMSWRIT' : 'EMAILWRIT' },
          ],
        },
      ],
      ...(subject ? { subject: { reference: subject } } : {}),
      about: [{ reference: `Appointment/${row.appointment_id}` }],
      recipient: [{ reference: row.recipient }],
      sent: at.toISOString(),
      payload: [{ contentString: text }],
    };
    return resource;
  }

  async function markSent(row: Row, text: string, channel: 'sms' | 'email', at: Date) {
    await workflow.run(async ({ sql, store: tx }) => {
      const id = randomUUID();
      const marked = await sql.query(
        `UPDATE reminder SET state = 'sent', sent_at = $2::timestamptz, communication_id = $3,
           last_error = NULL
         WHERE id = $1 AND state = 'sending' RETURNING id`,
        [row.id, at.toISOString(), id],
      );
      // Taken over after a lost lease and already marked by the other replica: one record.
      if (!marked.length) return;
      await tx.create(communication(row, text, channel, at), SERVER, id);
      await tx.audit(
        buildAuditEvent({
          interaction: 'create',
          outcome: 'success',
          who: {},
          subject: 'telefhir-reminders',
          requestId: `reminder-${row.id}`,
          entities: [{ reference: `Communication/${id}` }],
          ...(subjectOf(row) ? { patient: subjectOf(row)! } : {}),
          recorded: at,
        }),
      );
    });
  }

  async function sendOne(row: Row, at: Date): Promise<keyof RunResult> {
    const found = await readNow(store, `Appointment/${row.appointment_id}`);
    // Not there yet: on HealthLake an operation's Appointment may still be in the outbox.
    if (found === undefined && row.kind !== 'cancelled') {
      await retryLater(row, at, 'appointment-unavailable');
      return 'failed';
    }
    const appointment = found === 'gone' ? undefined : (found as Appointment | undefined);
    const why = stale(row, appointment, at);
    if (why) {
      await finish(row, 'skipped', why);
      return 'skipped';
    }
    const person = await readNow(store, row.recipient);
    const contact =
      typeof person === 'object' ? contactOf(person, notifier.channels, at) : undefined;
    if (!contact) {
      await finish(row, 'skipped', 'no-address');
      return 'skipped';
    }
    const when = formatWhen(new Date(row.visit_start), config.timeZone);
    const text = messageText(row.kind, when, `${config.linkBase}/${row.appointment_id}`);
    try {
      await notifier.send({
        key: `reminder-${row.id}`,
        ...contact,
        recipient: row.recipient,
        text,
      });
    } catch (error) {
      const name = (error as { code?: unknown; name?: unknown }).code ?? (error as Error).name;
      await retryLater(row, at, String(name ?? 'Error').slice(0, 100));
      options.log?.warn({ reminder: row.id, err: String(name) }, 'reminder not sent; retrying');
      return 'failed';
    }
    await markSent(row, text, contact.channel, at);
    return 'sent';
  }

  async function runDue(): Promise<RunResult> {
    const result: RunResult = { sent: 0, skipped: 0, failed: 0 };
    for (;;) {
      const at = now();
      const rows = await claim(at);
      for (const row of rows) result[await sendOne(row, at)]++;
      if (rows.length < batch) return result;
    }
  }

  let running: Promise<unknown> | undefined;
  const timer =
    config.pollMs > 0
      ? setInterval(() => {
          if (running) return;
          running = runDue()
            .catch((error: unknown) =>
              options.log?.warn({ err: (error as Error).name }, 'reminder pass failed'),
            )
            .finally(() => (running = undefined));
        }, config.pollMs)
      : undefined;
  timer?.unref();

  return {
    runDue,
    async close() {
      if (timer) clearInterval(timer);
      await running;
      await notifier.close();
    },
  };
}
