/**
 * EHR launch (SMART App Launch 2.2): `POST /auth/launch`, by an ADMIN or PROVIDER, mints a
 * launch context — a patient they may see, and maybe one of that patient's encounters — for a
 * registered client with a launch URI, and answers the URL that opens the app:
 * `launch_uri?iss={FHIR base}&launch={opaque}`. The app's authorization request names it with
 * `launch=` and scope `launch`; the first one to do so spends it.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { principalFrom, type TokenClaims } from '../auth/claims.js';
import { buildPolicy, type AccessPolicy } from '../auth/policy.js';
import type { Sql } from '../db/database.js';
import { administers, fromUserSignIn } from './caller.js';
import { OAuthError } from './errors.js';
import { NO_STORE } from './form.js';
import { sha256 } from './grants.js';
import { Clients } from './clients.js';
import type { OAuthServer } from './oauth.js';

export const LAUNCH_SECONDS = 300;
const ID = /^[A-Za-z0-9.-]{1,64}$/;

export interface LaunchContext {
  patient: string;
  encounter?: string;
}

export class Launches {
  constructor(private readonly sql: Sql) {}

  async create(clientId: string, context: LaunchContext, createdBy: string): Promise<string> {
    const launch = randomBytes(32).toString('base64url');
    await this.sql.query('DELETE FROM oauth_launch WHERE expires_at < now()');
    await this.sql.query(
      `INSERT INTO oauth_launch (id_hash, client_id, patient, encounter, created_by, expires_at)
       VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6))`,
      [
        sha256(launch),
        clientId,
        context.patient,
        context.encounter ?? null,
        createdBy,
        LAUNCH_SECONDS,
      ],
    );
    return launch;
  }

  /** The context of a live launch minted for `clientId`, spent by this call. */
  async spend(launch: string, clientId: string): Promise<LaunchContext | undefined> {
    if (launch.length > 100) return undefined;
    const [row] = await this.sql.query<{ patient: string; encounter: string | null }>(
      `DELETE FROM oauth_launch WHERE id_hash = $1 AND client_id = $2 AND expires_at > now()
       RETURNING patient, encounter`,
      [sha256(launch), clientId],
    );
    return row ? { patient: row.patient, encounter: row.encounter ?? undefined } : undefined;
  }
}

/** What an EHR may mint a launch with: a client id and the context, for `createdBy`. */
export type LaunchMinter = (
  sql: Sql,
  clientId: string,
  context: LaunchContext,
  createdBy: string,
) => Promise<{ launch: string; url: string }>;

/**
 * Mints a launch for a registered, enabled client with a launch URI and the code flow, in
 * `sql` (the caller's transaction, when there is one: an operation's). The caller has checked
 * that the user may see the context's patient and encounter.
 */
export function launchMinter(baseUrl: () => string): LaunchMinter {
  return async (sql, clientId, context, createdBy) => {
    // In `sql`: inside an operation's transaction, the embedded database has no other handle.
    const client = clientId.length <= 200 ? await new Clients(sql).get(clientId) : undefined;
    if (
      !client ||
      client.disabled ||
      !client.launchUri ||
      !client.grantTypes.includes('authorization_code')
    ) {
      throw new OAuthError(
        400,
        'invalid_request',
        'no enabled client with a launch URI has that id',
      );
    }
    const launch = await new Launches(sql).create(client.clientId, context, createdBy);
    const url = new URL(client.launchUri);
    url.searchParams.set('iss', baseUrl());
    url.searchParams.set('launch', launch);
    return { launch, url: url.toString() };
  };
}

const refused = (status: number, error: 'invalid_token' | 'insufficient_scope', why: string) =>
  new OAuthError(status, error, why, {
    'www-authenticate': `Bearer realm="telefhir", error="${error}"`,
  });

export async function launchRoutes(app: FastifyInstance, options: { oauth: OAuthServer }) {
  const mint = launchMinter(() => app.config.baseUrl);

  async function caller(
    request: FastifyRequest,
  ): Promise<{ claims: TokenClaims; policy: AccessPolicy }> {
    let claims: TokenClaims;
    try {
      claims = await app.verifyBearer(request);
    } catch {
      throw refused(401, 'invalid_token', 'a valid bearer token is required');
    }
    const principal = principalFrom(claims);
    if (!principal.roles.some((role) => role === 'ADMIN' || role === 'PROVIDER')) {
      throw refused(403, 'insufficient_scope', 'an ADMIN or PROVIDER token is required');
    }
    const clientId = (request.body as { client_id?: unknown } | undefined)?.client_id;
    // An app's token (a user signed in to it) mints launches for that app only, unless an
    // ADMIN granted it telefhir/oauth.admin; an ADMIN or PROVIDER token no app got, for any.
    if (
      fromUserSignIn(claims) &&
      clientId !== claims.client_id &&
      administers(claims)?.kind !== 'operator'
    ) {
      throw refused(403, 'insufficient_scope', "an app's token mints launches for that app only");
    }
    return { claims, policy: buildPolicy(principal, { providerScope: app.config.providerAccess }) };
  }

  /** Whether the caller may read `type/id` (the store applies their policy): false on 404/410. */
  async function readable(request: FastifyRequest, policy: AccessPolicy, type: string, id: string) {
    if (!ID.test(id) || !policy.grant(type, 'read')) return undefined;
    try {
      return await app.store.read(type, id, { requestId: request.id, access: policy });
    } catch (error) {
      const status = (error as { statusCode?: number }).statusCode;
      if (status === 404 || status === 410) return undefined;
      throw error;
    }
  }

  app.post('/launch', { config: { public: true } }, async (request, reply) => {
    const { claims, policy } = await caller(request);
    const body = request.body as Record<string, unknown> | undefined;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new OAuthError(
        400,
        'invalid_request',
        'send {"client_id", "patient", "encounter"?} as JSON',
      );
    }
    const { client_id: clientId, patient, encounter } = body;
    if (typeof clientId !== 'string' || typeof patient !== 'string') {
      throw new OAuthError(400, 'invalid_request', 'client_id and patient are required strings');
    }
    if (encounter !== undefined && typeof encounter !== 'string') {
      throw new OAuthError(400, 'invalid_request', 'encounter must be a string');
    }
    const patientId = patient.replace(/^Patient\//, '');
    if (!(await readable(request, policy, 'Patient', patientId))) {
      throw new OAuthError(400, 'invalid_request', 'no such patient, or not one you may see');
    }
    let encounterId: string | undefined;
    if (encounter !== undefined) {
      encounterId = encounter.replace(/^Encounter\//, '');
      const found = (await readable(request, policy, 'Encounter', encounterId)) as
        { subject?: { reference?: string } } | undefined;
      if (!found || found.subject?.reference !== `Patient/${patientId}`) {
        throw new OAuthError(
          400,
          'invalid_request',
          "no such encounter of the patient's, or not one you may see",
        );
      }
    }
    const { launch, url } = await mint(
      options.oauth.db,
      clientId,
      { patient: patientId, ...(encounterId ? { encounter: encounterId } : {}) },
      String(claims.sub ?? claims.client_id ?? 'unknown').slice(0, 200),
    );
    request.log.info({ clientId }, 'EHR launch context minted');
    return reply
      .code(201)
      .headers(NO_STORE)
      .type('application/json; charset=utf-8')
      .send({ launch, launch_url: url, expires_in: LAUNCH_SECONDS });
  });
}
