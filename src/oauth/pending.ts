/**
 * Authorization requests waiting for the user (SMART App Launch 2.2 §authorize): validated once
 * on arrival, then held in Postgres — not in a replica's memory — while the browser signs in and
 * approves. Each carries a CSRF token its forms must echo and the hash of a browser-binding
 * cookie, so neither a forged form nor another browser can move it on.
 */
import { randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { parseScopes } from '../auth/scopes.js';
import type { Sql } from '../db/database.js';
import { validScope } from './form.js';
import { sha256 } from './grants.js';

export const PENDING_SECONDS = 600;
export const BINDING_COOKIE = 'telefhir_authz';

/** Scopes a user-facing app may be granted besides resource scopes. */
const OTHER_SCOPES = new Set([
  'openid',
  'fhirUser',
  'profile',
  'launch/patient',
  'offline_access',
  'online_access',
]);

/**
 * Asked for, the administrative scope (caller.ts) is offered too; the consent page shows it,
 * and grants it, to ADMIN users only (`forUser`).
 */
export const ADMIN_SCOPE = 'telefhir/oauth.admin';

/** What of the offered scopes a user with `role` may approve: the admin scope only an ADMIN. */
export function forUser(offered: string[], role: string): string[] {
  return role === 'ADMIN' ? offered : offered.filter((scope) => scope !== ADMIN_SCOPE);
}

/** Scopes only an EHR launch (a request with `launch=`) may be granted. */
const EHR_SCOPES = new Set(['launch', 'launch/encounter']);

/**
 * What an app may be offered of what it asked: patient/ and user/ resource scopes this server
 * can read, and the launch and identity scopes it implements — limited, when the client
 * registered scopes, to those. Never system/ (that's backend services); `launch` and
 * `launch/encounter` only in an EHR launch.
 */
export function offerableScopes(requested: string, registered: string, ehr = false): string[] {
  const allowed = registered.split(' ').filter(Boolean);
  const offered: string[] = [];
  for (const scope of new Set(requested.split(' ').filter(Boolean))) {
    // Belt and braces: only scope tokens (authorize.ts refuses others), never system/.
    if (scope.length > 200 || !validScope(scope) || scope.startsWith('system/')) continue;
    if (allowed.length && !allowed.includes(scope)) continue;
    const resource = parseScopes(scope).resources[0];
    const known =
      OTHER_SCOPES.has(scope) || scope === ADMIN_SCOPE || (ehr && EHR_SCOPES.has(scope));
    if (known || (resource && resource.context !== 'system')) {
      offered.push(scope);
    }
  }
  return offered;
}

export interface Pending {
  id: string;
  csrf: string;
  clientId: string;
  redirectUri: string;
  scope: string;
  state?: string;
  nonce?: string;
  codeChallenge: string;
  username?: string;
  /** The EHR launch's context, when the request named one. */
  launchPatient?: string;
  launchEncounter?: string;
}

interface Row {
  id: string;
  csrf: string;
  binding_hash: string;
  client_id: string;
  redirect_uri: string;
  scope: string;
  state: string | null;
  nonce: string | null;
  code_challenge: string;
  username: string | null;
  launch_patient: string | null;
  launch_encounter: string | null;
}

const newCsrf = () => randomBytes(32).toString('base64url');

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export class PendingAuthorizations {
  constructor(private readonly sql: Sql) {}

  async create(
    request: Omit<Pending, 'id' | 'csrf' | 'username'>,
    binding: string,
  ): Promise<Pending> {
    const id = randomUUID();
    const csrf = newCsrf();
    await this.sql.query('DELETE FROM oauth_pending_authorization WHERE expires_at < now()');
    await this.sql.query(
      `INSERT INTO oauth_pending_authorization (id, csrf, binding_hash, client_id, redirect_uri,
         scope, state, nonce, code_challenge, launch_patient, launch_encounter, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, now() + make_interval(secs => $12))`,
      [
        id,
        csrf,
        sha256(binding),
        request.clientId,
        request.redirectUri,
        request.scope,
        request.state ?? null,
        request.nonce ?? null,
        request.codeChallenge,
        request.launchPatient ?? null,
        request.launchEncounter ?? null,
        PENDING_SECONDS,
      ],
    );
    return { ...request, id, csrf };
  }

  /**
   * The pending request a form names, when its CSRF token and the browser's binding cookie
   * both match and it has not expired; undefined otherwise (the caller says nothing more).
   */
  async find(
    id: string | null,
    csrf: string | null,
    binding: string | undefined,
  ): Promise<Pending | undefined> {
    if (!id || !csrf || !binding || id.length > 100 || csrf.length > 100) return undefined;
    const [row] = await this.sql.query<Row>(
      `SELECT * FROM oauth_pending_authorization WHERE id = $1 AND expires_at > now()`,
      [id],
    );
    if (!row || !same(row.csrf, csrf) || !same(row.binding_hash, sha256(binding))) {
      return undefined;
    }
    return {
      id: row.id,
      csrf: row.csrf,
      clientId: row.client_id,
      redirectUri: row.redirect_uri,
      scope: row.scope,
      state: row.state ?? undefined,
      nonce: row.nonce ?? undefined,
      codeChallenge: row.code_challenge,
      username: row.username ?? undefined,
      launchPatient: row.launch_patient ?? undefined,
      launchEncounter: row.launch_encounter ?? undefined,
    };
  }

  /** Records who signed in, with a fresh CSRF token (the sign-in form's is spent). */
  async signedIn(id: string, username: string): Promise<string> {
    const csrf = newCsrf();
    await this.sql.query(
      'UPDATE oauth_pending_authorization SET username = $2, csrf = $3 WHERE id = $1',
      [id, username, csrf],
    );
    return csrf;
  }

  /** Ends a pending request; false when another request ended it first (a double submit). */
  async finish(id: string): Promise<boolean> {
    const rows = await this.sql.query(
      'DELETE FROM oauth_pending_authorization WHERE id = $1 RETURNING id',
      [id],
    );
    return rows.length > 0;
  }
}
