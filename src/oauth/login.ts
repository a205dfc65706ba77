/**
 * Sign-in bookkeeping: failed attempts counted per account and per address in Postgres (so
 * every replica counts the same ones), and every attempt audited as an AuditEvent of subtype
 * Login (DICOM 110122) — success outcome 0, failure 4. Never the password; the username tried
 * is recorded, as the account the attempt was against.
 */
import type { AuditEvent } from 'fhir/r4.js';
import { BALP_ENTITY_TYPE, TELEFHIR_SOURCE } from '../audit/event.js';
import type { Sql } from '../store/postgres/database.js';

/** The window failures are counted over, and how many each may hold before sign-in stops. */
export const LOGIN_WINDOW_SECONDS = 15 * 60;
export const ACCOUNT_FAILURE_LIMIT = 5;
export const ADDRESS_FAILURE_LIMIT = 20;

const DCM = 'http://dicom.nema.org/resources/ontology/DCM';

export class LoginLimits {
  constructor(private readonly sql: Sql) {}

  /** Whether sign-in is refused for now: too many recent failures for the account or address. */
  async blocked(username: string, address: string): Promise<boolean> {
    const [row] = await this.sql.query<{ account: number; address: number }>(
      `SELECT count(*) FILTER (WHERE subject = $1)::int AS account,
              count(*) FILTER (WHERE subject = $2)::int AS address
       FROM oauth_login_failure
       WHERE subject IN ($1, $2) AND at > now() - make_interval(secs => $3)`,
      [`user:${username}`, `addr:${address}`, LOGIN_WINDOW_SECONDS],
    );
    return row!.account >= ACCOUNT_FAILURE_LIMIT || row!.address >= ADDRESS_FAILURE_LIMIT;
  }

  async failed(username: string, address: string): Promise<void> {
    await this.sql.query(`INSERT INTO oauth_login_failure (subject) VALUES ($1), ($2)`, [
      `user:${username}`,
      `addr:${address}`,
    ]);
    await this.sql.query(
      `DELETE FROM oauth_login_failure WHERE at < now() - make_interval(secs => $1)`,
      [LOGIN_WINDOW_SECONDS],
    );
  }

  /** A good sign-in clears the account's count (not the address's: others may share it). */
  async succeeded(username: string): Promise<void> {
    await this.sql.query('DELETE FROM oauth_login_failure WHERE subject = $1', [
      `user:${username}`,
    ]);
  }
}

/** One sign-in attempt as an AuditEvent (IHE BALP's user authentication pattern). */
export function loginAuditEvent(input: {
  success: boolean;
  username: string;
  fhirUser?: string;
  clientId: string;
  address: string;
  requestId: string;
}): AuditEvent {
  return {
    resourceType: 'AuditEvent',
    type: { system: DCM, code: '110114', display: 'User Authentication' },
    subtype: [{ system: DCM, code: '110122', display: 'Login' }],
    action: 'E',
    recorded: new Date().toISOString(),
    outcome: input.success ? '0' : '4',
    agent: [
      {
        who: input.fhirUser
          ? { reference: input.fhirUser, display: input.username }
          : { identifier: { value: input.username.slice(0, 100) } },
        altId: input.clientId,
        requestor: true,
        network: { address: input.address, type: '2' },
      },
    ],
    source: TELEFHIR_SOURCE,
    entity: [
      {
        what: { identifier: { value: input.requestId } },
        type: { system: BALP_ENTITY_TYPE, code: 'XrequestId', display: 'X-Request-Id' },
        detail: [{ type: 'request-id', valueString: input.requestId }],
      },
    ],
  };
}
