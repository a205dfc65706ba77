/**
 * The token endpoint's user grants: `authorization_code` (with PKCE S256) and `refresh_token`
 * (rotating; a rotated one presented again revokes the grant and every token it issued).
 * Access tokens are the same RS256 JWTs backend services get, with the user's `fhirUser`,
 * `role` and launch `patient`; an `id_token` comes with `openid`, a refresh token with
 * `offline_access` or `online_access`.
 */
import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { issueAccessToken } from './access-tokens.js';
import { authenticateClient, type ClientAuthContext } from './client-auth.js';
import type { Client } from './clients.js';
import { invalidClient, invalidRequest, OAuthError } from './errors.js';
import { Grants, type Grant } from './grants.js';
import type { OAuthServer } from './oauth.js';
import { Users } from './users.js';

/** A user's access token lives an hour (the signing keys' MAX_TOKEN_SECONDS). */
export const USER_TOKEN_SECONDS = 3600;
const VERIFIER = /^[A-Za-z0-9\-._~]{43,128}$/;

const invalidGrant = (why: string) => new OAuthError(400, 'invalid_grant', why);

/**
 * A client at the token or revocation endpoint: a confidential one authenticates; a public one
 * (token_endpoint_auth_method none) names itself with client_id (it has nothing to prove it
 * with: PKCE stands for its secret at the token endpoint, and RFC 7009 §5 lets it revoke its
 * own tokens).
 */
export async function confidentialOrPublicClient(
  params: URLSearchParams,
  authorization: string | undefined,
  context: ClientAuthContext,
): Promise<Client> {
  const credentials =
    /^Basic\s/i.test(authorization ?? '') ||
    params.has('client_assertion') ||
    params.has('client_assertion_type') ||
    params.has('client_secret');
  let client: Client;
  if (credentials) client = await authenticateClient(params, authorization, context);
  else {
    const clientId = params.get('client_id') ?? '';
    const found =
      clientId && clientId.length <= 200 ? await context.clients.get(clientId) : undefined;
    if (!found || found.authMethod !== 'none') {
      throw invalidClient('client authentication is required', true);
    }
    if (found.disabled) throw invalidClient('the client is disabled');
    client = found;
  }
  return client;
}

/** The client of a user grant (confidentialOrPublicClient), held to the authorization code flow. */
export async function userGrantClient(
  params: URLSearchParams,
  authorization: string | undefined,
  context: ClientAuthContext,
): Promise<Client> {
  const client = await confidentialOrPublicClient(params, authorization, context);
  if (!client.grantTypes.includes('authorization_code')) {
    throw new OAuthError(
      400,
      'unauthorized_client',
      'this client may not use the authorization code flow',
    );
  }
  return client;
}

export class UserTokens {
  private readonly grants: Grants;
  private readonly users: Users;

  constructor(
    private readonly app: FastifyInstance,
    private readonly oauth: OAuthServer,
    private readonly issuer: () => string,
  ) {
    this.grants = new Grants(oauth.db);
    this.users = new Users(oauth.db);
  }

  async authorizationCode(params: URLSearchParams, client: Client) {
    const code = params.get('code');
    const redirectUri = params.get('redirect_uri');
    const verifier = params.get('code_verifier');
    if (!code || code.length > 200) throw invalidRequest('code is missing');
    if (!redirectUri) throw invalidRequest('redirect_uri is missing');
    if (!verifier) throw invalidRequest('code_verifier is missing (PKCE is required)');
    const redeemed = await this.grants.redeem(code);
    if (redeemed.outcome !== 'ok') {
      throw invalidGrant(
        redeemed.outcome === 'replayed'
          ? 'the code was already used; what it issued is revoked'
          : 'unknown code',
      );
    }
    const { grant } = redeemed;
    if (redeemed.expired) throw invalidGrant('the code has expired');
    if (grant.clientId !== client.clientId)
      throw invalidGrant('the code was issued to another client');
    if (redeemed.redirectUri !== redirectUri) throw invalidGrant('redirect_uri does not match');
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    if (!VERIFIER.test(verifier) || challenge !== redeemed.codeChallenge) {
      throw invalidGrant('code_verifier does not match the code_challenge');
    }
    return this.respond(client, grant, grant.scope, true);
  }

  async refresh(params: URLSearchParams, client: Client) {
    if (!client.grantTypes.includes('refresh_token')) {
      throw new OAuthError(400, 'unauthorized_client', 'this client may not use refresh tokens');
    }
    const token = params.get('refresh_token');
    if (!token || token.length > 200) throw invalidRequest('refresh_token is missing');
    const rotated = await this.grants.rotate(token, client.clientId);
    if (rotated.outcome !== 'ok') {
      throw invalidGrant(
        rotated.outcome === 'reused'
          ? 'the refresh token was already used; its grant is revoked'
          : 'unknown, expired or revoked refresh token',
      );
    }
    const { grant } = rotated;
    const asked = params.get('scope');
    let scope = grant.scope;
    if (asked !== null) {
      const granted = grant.scope.split(' ');
      const wanted = [...new Set(asked.split(' ').filter(Boolean))];
      if (wanted.length === 0 || wanted.some((s) => !granted.includes(s))) {
        throw new OAuthError(400, 'invalid_scope', 'a refresh may only narrow the granted scope');
      }
      scope = wanted.join(' ');
    }
    return this.respond(client, grant, scope, false);
  }

  private async respond(client: Client, grant: Grant, scope: string, withIdToken: boolean) {
    const user = await this.users.get(grant.username);
    if (!user || user.disabled) throw invalidGrant('the user is disabled');
    const scopes = scope.split(' ');
    const baseUrl = this.app.config.baseUrl;
    const fhirUser = `${baseUrl}/${user.fhirUser}`;
    const issued = await issueAccessToken(
      this.oauth.keys,
      {
        iss: this.issuer(),
        aud: this.app.config.auth.audience,
        sub: user.username,
        client_id: grant.clientId,
        scope,
        role: user.role,
        fhirUser,
        ...(grant.patient ? { patient: grant.patient } : {}),
        ...(grant.encounter ? { encounter: grant.encounter } : {}),
      },
      USER_TOKEN_SECONDS,
    );
    // Recorded (or found revoked meanwhile) before anything is released: a concurrent replay's
    // or disable's revocation reaches this token either way.
    if (!(await this.grants.recordToken(grant.id, issued.jti, issued.exp))) {
      throw invalidGrant('the grant was revoked while the token was being issued');
    }
    // Launch context: the patient with launch/patient (standalone) or launch (EHR); the
    // encounter with launch or launch/encounter, when the EHR launch named one.
    const ehr = scopes.includes('launch');
    const patient = grant.patient && (ehr || scopes.includes('launch/patient'));
    const encounter =
      grant.encounter && (ehr || scopes.includes('launch/encounter')) ? grant.encounter : undefined;
    const fhirContext = [
      ...(patient ? [{ reference: `Patient/${grant.patient}` }] : []),
      ...(encounter ? [{ reference: `Encounter/${encounter}` }] : []),
    ];
    const body: Record<string, unknown> = {
      access_token: issued.accessToken,
      token_type: 'Bearer',
      expires_in: issued.expiresIn,
      scope,
      ...(patient ? { patient: grant.patient } : {}),
      ...(encounter ? { encounter } : {}),
      ...(fhirContext.length ? { fhirContext } : {}),
    };
    if (withIdToken && scopes.includes('openid')) {
      const now = Math.floor(Date.now() / 1000);
      body.id_token = await this.oauth.keys.sign({
        iss: this.issuer(),
        sub: user.username,
        aud: grant.clientId,
        exp: now + USER_TOKEN_SECONDS,
        auth_time: now,
        ...(scopes.includes('fhirUser') || scopes.includes('openid') ? { fhirUser } : {}),
        ...(grant.nonce ? { nonce: grant.nonce } : {}),
      });
    }
    const refreshable = scopes.includes('offline_access') || scopes.includes('online_access');
    if (refreshable && client.grantTypes.includes('refresh_token')) {
      body.refresh_token = await this.grants.newRefreshToken(grant);
    }
    return body;
  }
}
