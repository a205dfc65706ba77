-- The telehealth workflow ("Aurora side"): state of the operations that is not FHIR, kept in
-- tables of its own so $book, $start-visit and $prescribe work the same whichever store holds
-- the clinical resources.

-- btree_gist lets an EXCLUDE constraint combine equality on text with overlap on ranges. It is
-- created in public so that every schema sharing the database (tests use one per test) finds
-- its default operator classes.
CREATE EXTENSION IF NOT EXISTS btree_gist SCHEMA public;

-- One row per (active appointment, person taking part): a booked, arrived or fulfilled
-- appointment holds its time for its practitioners and its patient. The database refuses two
-- rows of one person whose times overlap, so concurrent bookings can never both succeed.
-- Cancelled, noshow and entered-in-error appointments have no rows: their time is free.
CREATE TABLE appointment_booking (
  appointment_id text NOT NULL,
  actor text NOT NULL,            -- 'Practitioner/<id>' or 'Patient/<id>'
  period tstzrange NOT NULL,
  PRIMARY KEY (appointment_id, actor),
  CONSTRAINT appointment_booking_no_overlap EXCLUDE USING gist (actor WITH =, period WITH &&)
);

-- Idempotency-Key: the first response to (caller, operation, key) is kept with a hash of the
-- request body; the same key and body answer it again, another body is 409.
CREATE TABLE idempotency_key (
  scope text NOT NULL,            -- caller and operation
  key text NOT NULL,
  request_hash text NOT NULL,
  status integer,                 -- NULL while the first request is still running
  headers json,
  body json,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (scope, key)
);

-- One video visit per appointment: its meeting and its Encounter. Attendee join tokens are
-- secrets and are never stored.
CREATE TABLE visit (
  appointment_id text PRIMARY KEY,
  meeting_id text NOT NULL,
  external_meeting_id text NOT NULL,
  media_region text NOT NULL,
  media_placement json NOT NULL,
  encounter_id text NOT NULL,
  started_at timestamptz NOT NULL DEFAULT now(),
  ended_at timestamptz
);

-- Meetings of the local video provider (no AWS): the server keeps no state in memory.
CREATE TABLE local_meeting (
  meeting_id text PRIMARY KEY,
  external_meeting_id text NOT NULL,
  media_region text NOT NULL,
  media_placement json NOT NULL,
  ended_at timestamptz
);

-- Prescriptions as an e-prescribing system tracks them: signed → transmitted → dispensed, or
-- cancelled. At most one open prescription of an RxNorm code per patient, unless the
-- prescriber allowed a duplicate (with a reason).
CREATE TABLE prescription (
  medication_request_id text PRIMARY KEY,
  patient_id text NOT NULL,
  rxnorm text,
  state text NOT NULL CHECK (state IN ('signed', 'transmitted', 'dispensed', 'cancelled')),
  duplicate_reason text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX prescription_one_open ON prescription (patient_id, rxnorm)
  WHERE state IN ('signed', 'transmitted') AND duplicate_reason IS NULL AND rxnorm IS NOT NULL;
