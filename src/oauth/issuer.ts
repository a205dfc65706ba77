/**
 * Where the built-in authorization server lives: `{origin of FHIR_BASE_URL}/auth`. Computed
 * from the base URL whenever it's needed (not once at start-up), so it always names the origin
 * the server links with.
 */
export function oauthIssuer(baseUrl: string): string {
  return `${new URL(baseUrl).origin}/auth`;
}

export function oauthEndpoints(baseUrl: string) {
  const issuer = oauthIssuer(baseUrl);
  return {
    issuer,
    jwks_uri: `${issuer}/jwks`,
    authorization_endpoint: `${issuer}/authorize`,
    token_endpoint: `${issuer}/token`,
    introspection_endpoint: `${issuer}/introspect`,
    revocation_endpoint: `${issuer}/revoke`,
    registration_endpoint: `${issuer}/register`,
  };
}
