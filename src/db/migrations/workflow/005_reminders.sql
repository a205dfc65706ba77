-- Appointment reminders and change notices (src/reminders/): one row per message to one person
-- taking part in an appointment. Rows are written by the reminder hook in the appointment
-- write's own transaction, and sent by whichever replica claims them first (FOR UPDATE SKIP
-- LOCKED, then a lease), so each is sent once however many replicas run. No addresses or text
-- are kept here: they are read from the Patient/Practitioner when the message goes out.
CREATE TABLE reminder (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  appointment_id text NOT NULL,
  recipient text NOT NULL,          -- 'Patient/<id>' or 'Practitioner/<id>'
  patient text,                     -- the appointment's patient: the Communication's subject
  kind text NOT NULL CHECK (kind IN ('reminder', 'booked', 'rescheduled', 'cancelled')),
  visit_start timestamptz NOT NULL, -- the start the message names
  due_at timestamptz NOT NULL,
  state text NOT NULL DEFAULT 'pending' 
    CHECK (state IN ('pending', 'sending', 'sent', 'skipped', 'failed')),
  -- pending: when it may be claimed (due_at, later after a failed attempt); sending: when the
  -- claim's lease runs out and another replica may take it over.
  next_attempt_at timestamptz NOT NULL,
  attempts integer NOT NULL DEFAULT 0,
  last_error text,                  -- an error name or a reason code, never a message text
  sent_at timestamptz,
  communication_id text,
  created_at timestamptz NOT NULL DEFAULT now()
);
-- A reminder at one offset is scheduled once per person and start: re-saving a booked
-- appointment doesn't schedule (or send) it again.
CREATE UNIQUE INDEX reminder_once ON reminder (appointment_id, recipient, kind, due_at)
  WHERE kind = 'reminder';
CREATE INDEX reminder_due ON reminder (next_attempt_at) WHERE state IN ('pending', 'sending');
CREATE INDEX reminder_of_appointment ON reminder (appointment_id) WHERE state = 'pending';

-- NOTIFY_PROVIDER=local: what would have been sent, for a laptop without SMS or email.
CREATE TABLE local_notification (
  key text PRIMARY KEY,             -- the reminder's idempotency key: a resend is not a new row
  channel text NOT NULL CHECK (channel IN ('sms', 'email')),
  address text NOT NULL,
  recipient text NOT NULL,
  body text NOT NULL,
  sent_at timestamptz NOT NULL DEFAULT now()
);
