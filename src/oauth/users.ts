/**
 * People who sign in to the built-in authorization server, in Postgres (oauth_user): a
 * username, a scrypt hash of the password (per-user salt, constant-time compare: secrets.ts),
 * who they are in FHIR (`fhirUser`) and their role. Disabling a user revokes every grant they
 * gave, with its access tokens, so the API refuses their tokens at once.
 */
import { ROLES, type Role } from '../auth/claims.js';
import type { Database } from '../db/database.js';
import { revokeGrantsWhere } from './grants.js';
import { hashSecret, verifySecret } from './secrets.js';

const USERNAME = /^[A-Za-z0-9._@+-]{1,100}$/;
const FHIR_USER = /^(Patient|Practitioner|RelatedPerson)\/[A-Za-z0-9.-]{1,64}$/;
/** scrypt of an unguessable value: an unknown username costs as much as a wrong password. */
const DUMMY_HASH =
  'scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=';

export class UserError extends Error {
  override name = 'UserError';
}

export interface User {
  username: string;
  fhirUser: string;
  role: Role;
  disabled: boolean;
  createdAt: string;
}

interface Row {
  username: string;
  password_hash: string;
  fhir_user: string;
  role: Role;
  created_at: Date | string;
  disabled_at: Date | string | null;
}

const fromRow = (row: Row): User => ({
  username: row.username,
  fhirUser: row.fhir_user,
  role: row.role,
  disabled: row.disabled_at !== null,
  createdAt: new Date(row.created_at).toISOString(),
});

/** Usernames compare case-insensitively: `Alice` and `alice` are one account. */
export const normalUsername = (name: string) => name.trim().toLowerCase();

export function checkUser(spec: {
  username: string;
  password: string;
  fhirUser: string;
  role: string;
}) {
  const username = normalUsername(spec.username ?? '');
  if (!USERNAME.test(username)) {
    throw new UserError('a username is 1 to 100 letters, digits or . _ @ + -');
  }
  if (typeof spec.password !== 'string' || spec.password.length < 8 || spec.password.length > 200) {
    throw new UserError('a password is 8 to 200 characters');
  }
  if (!FHIR_USER.test(spec.fhirUser ?? '')) {
    throw new UserError('--fhir-user is Patient/ID, Practitioner/ID or RelatedPerson/ID');
  }
  if (!(ROLES as readonly string[]).includes(spec.role)) {
    throw new UserError(`--role is one of ${ROLES.join(', ')}`);
  }
  if (spec.role === 'PATIENT' && !spec.fhirUser.startsWith('Patient/')) {
    throw new UserError('a PATIENT is a Patient (--fhir-user Patient/ID)');
  }
  if (spec.role === 'GUARDIAN' && !spec.fhirUser.startsWith('RelatedPerson/')) {
    throw new UserError('a GUARDIAN is a RelatedPerson (--fhir-user RelatedPerson/ID)');
  }
  return { username, password: spec.password, fhirUser: spec.fhirUser, role: spec.role as Role };
}

export class Users {
  constructor(private readonly db: Database) {}

  async add(spec: { username: string; password: string; fhirUser: string; role: string }) {
    const user = checkUser(spec);
    const rows = await this.db.query<Row>(
      `INSERT INTO oauth_user (username, password_hash, fhir_user, role) VALUES ($1, $2, $3, $4)
       ON CONFLICT (username) DO NOTHING RETURNING *`,
      [user.username, await hashSecret(user.password), user.fhirUser, user.role],
    );
    if (!rows[0]) throw new UserError(`there is already a user ${user.username}`);
    return fromRow(rows[0]);
  }

  async get(username: string): Promise<User | undefined> {
    const [row] = await this.db.query<Row>('SELECT * FROM oauth_user WHERE username = $1', [
      normalUsername(username),
    ]);
    return row ? fromRow(row) : undefined;
  }

  async list(): Promise<User[]> {
    return (await this.db.query<Row>('SELECT * FROM oauth_user ORDER BY username')).map(fromRow);
  }

  /**
   * The user these credentials prove, or undefined. Always runs one scrypt (a dummy one for an
   * unknown name), so timing does not tell which usernames exist. A disabled user is returned
   * (with `disabled`), for the caller to refuse and audit.
   */
  async authenticate(username: string, password: string): Promise<User | undefined> {
    const name = normalUsername(username);
    const [row] = USERNAME.test(name)
      ? await this.db.query<Row>('SELECT * FROM oauth_user WHERE username = $1', [name])
      : [];
    const ok = await verifySecret(password.slice(0, 200), row?.password_hash ?? DUMMY_HASH);
    return row && ok ? fromRow(row) : undefined;
  }

  /** Disables a user and revokes what they granted; false when there is no such user. */
  async disable(username: string): Promise<boolean> {
    const name = normalUsername(username);
    return this.db.transaction(async (tx) => {
      const rows = await tx.query(
        `UPDATE oauth_user SET disabled_at = coalesce(disabled_at, now())
         WHERE username = $1 RETURNING username`,
        [name],
      );
      if (rows.length === 0) return false;
      await revokeGrantsWhere(tx, 'g.username = $1', [name]);
      return true;
    });
  }
}
