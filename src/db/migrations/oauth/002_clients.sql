-- Registered OAuth clients (npm run client, POST /auth/register). A confidential client's secret
-- is kept only as a scrypt hash; an asymmetric client's public keys inline (jwks) or by URL.
CREATE TABLE oauth_client (
  client_id text PRIMARY KEY,
  name text NOT NULL,
  redirect_uris text[] NOT NULL DEFAULT '{}',
  launch_uri text,
  auth_method text NOT NULL
    CHECK (auth_method IN ('none', 'client_secret_basic', 'private_key_jwt')),
  secret_hash text,
  jwks jsonb,
  jwks_uri text,
  scope text NOT NULL DEFAULT '',
  grant_types text[] NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  disabled_at timestamptz,
  CHECK ((auth_method = 'client_secret_basic') = (secret_hash IS NOT NULL)),
  CHECK (auth_method <> 'private_key_jwt' OR ((jwks IS NULL) <> (jwks_uri IS NULL)))
);

-- Client assertions' jti, kept until the assertion expires: a replayed assertion is refused
-- on every replica. Rows past expires_at are deleted as new ones arrive.
CREATE TABLE oauth_used_jti (
  client_id text NOT NULL,
  jti text NOT NULL,
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (client_id, jti)
);
CREATE INDEX oauth_used_jti_expiry ON oauth_used_jti (expires_at);

-- Access tokens revoked (RFC 7009) before they expire. The resource server looks a token's jti
-- up here on every request (one primary-key probe); rows leave once the token has expired.
CREATE TABLE oauth_revoked_token (
  jti text PRIMARY KEY,
  expires_at timestamptz NOT NULL
);
CREATE INDEX oauth_revoked_token_expiry ON oauth_revoked_token (expires_at);
