-- An authorization request between its arrival and its code (SMART App Launch): the validated
-- request, the CSRF token its forms must carry, a hash of the browser binding (a cookie), and,
-- once the user has signed in, who they are. Gone after ten minutes.
CREATE TABLE oauth_pending_authorization (
  id text PRIMARY KEY,
  csrf text NOT NULL,
  binding_hash text NOT NULL,
  client_id text NOT NULL REFERENCES oauth_client (client_id),
  redirect_uri text NOT NULL,
  scope text NOT NULL,
  state text,
  nonce text,
  code_challenge text NOT NULL,
  username text REFERENCES oauth_user (username),
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL
);
CREATE INDEX oauth_pending_authorization_expiry ON oauth_pending_authorization (expires_at);

-- A grant: what one approval allowed one client for one user. Every code, refresh token and
-- access token it leads to belongs to it, so revoking it (code replay, refresh reuse, a disabled
-- user) revokes them all.
CREATE TABLE oauth_grant (
  id text PRIMARY KEY,
  client_id text NOT NULL REFERENCES oauth_client (client_id),
  username text NOT NULL REFERENCES oauth_user (username),
  scope text NOT NULL,
  patient text,
  nonce text,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  revoked_at timestamptz
);
CREATE INDEX oauth_grant_user ON oauth_grant (username);

-- Authorization codes, by SHA-256: single use (used_at), 60 s, bound to client, redirect URI and
-- PKCE challenge through the row.
CREATE TABLE oauth_code (
  code_hash text PRIMARY KEY,
  grant_id text NOT NULL REFERENCES oauth_grant (id),
  redirect_uri text NOT NULL,
  code_challenge text NOT NULL,
  expires_at timestamptz NOT NULL,
  used_at timestamptz
);

-- Refresh tokens, by SHA-256. One is live per grant; using it rotates it (rotated_at), and a
-- rotated one presented again revokes the grant.
CREATE TABLE oauth_refresh_token (
  token_hash text PRIMARY KEY,
  grant_id text NOT NULL REFERENCES oauth_grant (id),
  expires_at timestamptz NOT NULL,
  rotated_at timestamptz
);
CREATE INDEX oauth_refresh_token_grant ON oauth_refresh_token (grant_id);

-- Access tokens issued under a grant, so revoking the grant can put each on the revocation list
-- the resource server checks (oauth_revoked_token).
CREATE TABLE oauth_grant_token (
  jti text PRIMARY KEY,
  grant_id text NOT NULL REFERENCES oauth_grant (id),
  expires_at timestamptz NOT NULL
);
CREATE INDEX oauth_grant_token_grant ON oauth_grant_token (grant_id);
