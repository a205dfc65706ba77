-- People who sign in to the built-in authorization server (npm run user). The password is kept
-- only as a scrypt hash (secrets.ts: per-user salt); fhir_user is who they are in FHIR terms.
CREATE TABLE oauth_user (
  username text PRIMARY KEY,
  password_hash text NOT NULL,
  fhir_user text NOT NULL
    CHECK (fhir_user ~ '^(Patient|Practitioner|RelatedPerson)/[A-Za-z0-9.-]{1,64}$'),
  role text NOT NULL
    CHECK (role IN ('ADMIN', 'PROVIDER', 'NURSE', 'RECEPTIONIST', 'STAFF', 'PATIENT', 'GUARDIAN')),
  created_at timestamptz NOT NULL DEFAULT now(),
  disabled_at timestamptz
);

-- Failed sign-ins, by account ('user:NAME') and by address ('addr:IP'), so every replica counts
-- the same attempts. Rows older than the rate-limit window are deleted as new ones arrive.
CREATE TABLE oauth_login_failure (
  subject text NOT NULL,
  at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX oauth_login_failure_subject ON oauth_login_failure (subject, at);
