-- The built-in authorization server's signing keys. Every replica signs and verifies with the
-- same keys, so they live here, not on a replica's disk. The private JWK is stored encrypted
-- (src/oauth/key-encryption.ts); the public one in the clear, as the JWKS publishes it.
CREATE TABLE oauth_data_key (
  name text PRIMARY KEY,
  kek text NOT NULL,       -- which key-encryption key wrapped it (KeyWrapper.id)
  wrapped text NOT NULL    -- base64
);

CREATE TABLE oauth_signing_key (
  kid text PRIMARY KEY,    -- RFC 7638 thumbprint of the public JWK
  alg text NOT NULL,
  public_jwk jsonb NOT NULL,
  private_jwk text NOT NULL, -- base64 of iv | tag | AES-256-GCM ciphertext, kid as AAD
  created_at timestamptz NOT NULL DEFAULT now(),
  -- Set when a newer key replaced it: it signs nothing after, and leaves the JWKS once every
  -- token it signed has expired (retired_at + the longest token lifetime).
  retired_at timestamptz
);
-- At most one key signs.
CREATE UNIQUE INDEX oauth_signing_key_active ON oauth_signing_key ((true)) WHERE retired_at IS NULL;
