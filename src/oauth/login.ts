/**
 * Sign-in bookkeeping: failed attempts counted per account and per address in Postgres (so
 * every replica counts the same ones), and every attempt audited as an AuditEvent of subtype
 * Login (DICOM 110122) — success outcome 0, failure 4. Never the password; the username tried
 * is recorded, as the account the attempt was against.
 */
import type { AuditEvent } from 'fhir/r4.js';
import { BALP_ENTITY_TYPE, TELEFHIR_SOURCE } from '../audit/event.js';
import type { Database } from '../db/database.js';
import { normalUsername } from './users.js';

/** The window failures are counted over, and how many each may hold before sign-in stops. */
export const LOGIN_WINDOW_SECONDS = 15 * 60;
export const ACCOUNT_FAILURE_LIMIT = 5;
export const ADDRESS_FAILURE_LIMIT = 20;

const DCM = 'http://dicom.nema.org/resources/ontology/DCM';

/**
 * The per-account and per-address failure counts. An attempt is counted as a failure *before*
 * its password is checked (`attempt`), under a transaction-scoped advisory lock on the account
 * and on the address, so concurrent attempts are counted one after the other: a burst gets at
 * most the limit of passwords checked, the rest are refused. A good password then takes its
 * attempt back (`succeeded`).
 */
export class LoginLimits {
  constructor(private readonly db: Database) {}

  /**
   * Counts an attempt against the account and the address, unless either already holds its
   * limit of recent failures: false then (sign-in refused, nothing recorded), true when the
   * password may be checked.
   */
  async attempt(username: string, address: string): Promise<boolean> {
    const account = `user:${normalUsername(username)}`;
    const from = `addr:${address}`;
    return this.db.transaction(async (tx) => {
      // Always the account first, then the address: no two attempts wait on each other in a cycle.
      for (const subject of [account, from]) {
        await tx.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [
          `oauth_login_failure:${subject}`,
        ]);
      }
      await tx.query(
        `DELETE FROM oauth_login_failure
         WHERE subject IN ($1, $2) AND at < now() - make_interval(secs => $3)`,
        [account, from, LOGIN_WINDOW_SECONDS],
      );
      const [row] = await tx.query<{ account: number; address: number }>(
        `SELECT count(*) FILTER (WHERE subject = $1)::int AS account,
                count(*) FILTER (WHERE subject = $2)::int AS address
         FROM oauth_login_failure
         WHERE subject IN ($1, $2) AND at > now() - make_interval(secs => $3)`,
        [account, from, LOGIN_WINDOW_SECONDS],
      );
      if (row!.account >= ACCOUNT_FAILURE_LIMIT || row!.address >= ADDRESS_FAILURE_LIMIT) {
        return false;
      }
      await tx.query(`INSERT INTO oauth_login_failure (subject) VALUES ($1), ($2)`, [
        account,
        from,
      ]);
      return true;
    });
  }

  /**
   * A good sign-in: clears the account's count, and takes back the address's count of this
   * attempt (one row), not the address's other failures (others may share it).
   */
  async succeeded(username: string, address: string): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.query('DELETE FROM oauth_login_failure WHERE subject = $1', [
        `user:${normalUsername(username)}`,
      ]);
      await tx.query(
        `DELETE FROM oauth_login_failure WHERE ctid IN (
           SELECT ctid FROM oauth_login_failure WHERE subject = $1 ORDER BY at DESC LIMIT 1)`,
        [`addr:${address}`],
      );
    });
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
