/**
 * The SSN data key and what it does: a keyed-HMAC token for the index, AES-256-GCM for the
 * value. One 32-byte data key per deployment, stored wrapped in Postgres (identity_data_key) so
 * every replica uses the same one; two subkeys are derived from it with HKDF, one per use.
 * The unwrapped key is immutable, so holding it in memory is allowed (ARCHITECTURE.md).
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import type { Sql } from '../db/database.js';
import type { KeyWrapper } from './key-wrapper.js';
import { normaliseSsn, TOKEN_PREFIX } from './ssn.js';

const KEY_NAME = 'ssn';
const VERSION = 'v1';

export class SsnCipher {
  private readonly encKey: Buffer;
  private readonly macKey: Buffer;

  constructor(dataKey: Buffer) {
    if (dataKey.length !== 32) throw new Error('the SSN data key must be 32 bytes');
    this.encKey = Buffer.from(hkdfSync('sha256', dataKey, '', 'telefhir ssn encryption', 32));
    this.macKey = Buffer.from(hkdfSync('sha256', dataKey, '', 'telefhir ssn index', 32));
  }

  /** Deterministic: the same SSN (in any of its spellings) always gives the same token. */
  token(ssn: string): string {
    return TOKEN_PREFIX + createHmac('sha256', this.macKey).update(normaliseSsn(ssn)).digest('hex');
  }

  /** `v1.` + base64 of iv | tag | ciphertext; the token is the AAD, so the two can't be swapped. */
  encrypt(ssn: string, token: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.encKey, iv);
    cipher.setAAD(Buffer.from(token));
    const body = Buffer.concat([cipher.update(ssn.trim(), 'utf8'), cipher.final()]);
    return `${VERSION}.${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64')}`;
  }

  /** Undefined when the ciphertext is malformed or doesn't authenticate under this token. */
  decrypt(ciphertext: string, token: string): string | undefined {
    if (!ciphertext.startsWith(`${VERSION}.`)) return undefined;
    try {
      const raw = Buffer.from(ciphertext.slice(VERSION.length + 1), 'base64');
      const decipher = createDecipheriv('aes-256-gcm', this.encKey, raw.subarray(0, 12));
      decipher.setAAD(Buffer.from(token));
      decipher.setAuthTag(raw.subarray(12, 28));
      return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
    } catch {
      return undefined;
    }
  }
}

/** How to get the local KEK back; a fresh one (a new DATA_DIR) can never unwrap the old key. */
const RESTORE_LOCAL =
  'restore the identity-kek file that wrapped it from backup into DATA_DIR, ' +
  "or set IDENTITY_KEK to that file's contents";

/**
 * The deployment's data key: unwrapped from identity_data_key, or made, wrapped and stored on
 * the first start. Two replicas racing here both read the winner's row. Run outside any
 * transaction of the request path (at start-up).
 */
export async function loadSsnCipher(db: Sql, wrapper: KeyWrapper): Promise<SsnCipher> {
  const read = () =>
    db.query<{ kek: string; wrapped: string }>(
      'SELECT kek, wrapped FROM identity_data_key WHERE name = $1',
      [KEY_NAME],
    );
  let [row] = await read();
  if (!row) {
    const wrapped = await wrapper.wrap(randomBytes(32));
    await db.query(
      `INSERT INTO identity_data_key (name, kek, wrapped) VALUES ($1, $2, $3)
       ON CONFLICT (name) DO NOTHING`,
      [KEY_NAME, wrapper.id, wrapped.toString('base64')],
    );
    [row] = await read();
  }
  if (!row) throw new Error('identity_data_key: the SSN data key could not be stored');
  if (row.kek !== wrapper.id) {
    throw new Error(
      `the SSN data key is wrapped by "${row.kek}", not by the configured key "${wrapper.id}": ` +
        (row.kek === 'local' ? RESTORE_LOCAL : `set KMS_KEY_ID=${row.kek}`) +
        '; the stored SSNs cannot be read without it',
    );
  }
  let key: Buffer;
  try {
    key = await wrapper.unwrap(Buffer.from(row.wrapped, 'base64'));
  } catch (error) {
    // Typically a new DATA_DIR (a fresh identity-kek) pointed at a database whose data key an
    // older one wrapped: say so, rather than the cipher's "unable to authenticate data".
    const local = wrapper.id === 'local';
    throw new Error(
      `the SSN data key in identity_data_key can't be unwrapped with the configured ${wrapper.id} ` +
        `key ${local ? '(DATA_DIR/identity-kek or IDENTITY_KEK)' : '(KMS_KEY_ID)'}: ` +
        `${local ? RESTORE_LOCAL : 'start with the KMS key that wrapped it'}; ` +
        'the stored SSNs cannot be read without it',
      { cause: error },
    );
  }
  return new SsnCipher(key);
}
