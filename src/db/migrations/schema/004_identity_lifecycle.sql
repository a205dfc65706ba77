-- Patient identity (src/identity/) and the data lifecycle (src/lifecycle/). Idempotent (IF NOT
-- EXISTS): with a store other than Postgres, src/identity/schema.ts applies it to the workflow's
-- database, which holds the MRN sequence and the wrapped SSN key then.

-- MRNs come from a sequence, so replicas never hand out the same number. nextval is not
-- transactional: a rolled-back create leaves a gap, which is harmless (uniqueness is all we need).
CREATE SEQUENCE IF NOT EXISTS patient_mrn_seq START WITH 1 INCREMENT BY 1 NO CYCLE;

-- Which patient holds each MRN, kept by a write hook in the write's own transaction. The primary
-- key is what refuses a second patient with the same MRN, even from concurrent writers. A
-- deleted patient keeps its MRN (it may be restored, and MRNs are never reused); only the
-- retention purge and $expunge release it.
CREATE TABLE IF NOT EXISTS patient_mrn (
  mrn text PRIMARY KEY,
  patient_id text NOT NULL
);
CREATE INDEX IF NOT EXISTS patient_mrn_patient ON patient_mrn (patient_id);

-- Envelope encryption of SSNs: the data key, wrapped by the key-encryption key (KMS in
-- production, a key file in DATA_DIR otherwise). Kept here so every replica unwraps the same
-- key; the plaintext key exists only in memory.
CREATE TABLE IF NOT EXISTS identity_data_key (
  name text PRIMARY KEY,
  kek text NOT NULL,          -- which key-encryption key wrapped it ('local' or the KMS key id)
  wrapped text NOT NULL,      -- base64
  created_at timestamptz NOT NULL DEFAULT now()
);
