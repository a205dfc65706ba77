/**
 * How the authorization server's private signing keys are encrypted at rest. The secret: a
 * random 32-byte data key of its own (oauth_data_key), wrapped by the same key-encryption key
 * as the SSN data key (src/identity/key-wrapper.ts: KMS_KEY_ID, IDENTITY_KEK, or the key file
 * in DATA_DIR). Why that one and not a server_secret row: a secret stored in the same database
 * as the ciphertext protects nothing against a dump of that database; a KEK held outside it
 * (KMS, a secret manager) does, and it is the one the deployment already guards. The private
 * JWKs are AES-256-GCM under a subkey derived with HKDF (so the data key itself encrypts
 * nothing), with the key's kid as associated data (a ciphertext moved to another row fails).
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import type { KeyWrapper } from '../identity/key-wrapper.js';
import type { Sql } from '../db/database.js';

const KEY_NAME = 'signing-keys';
const INFO = 'telefhir-oauth-signing-key-encryption';

export class KeyCipher {
  private readonly key: Buffer;
  constructor(dataKey: Buffer) {
    if (dataKey.length !== 32) throw new Error('the OAuth data key must be 32 bytes');
    this.key = Buffer.from(hkdfSync('sha256', dataKey, Buffer.alloc(0), INFO, 32));
  }

  /** iv (12) | tag (16) | ciphertext, base64. */
  seal(plaintext: string, aad: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(aad));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64');
  }

  open(sealed: string, aad: string): string {
    const bytes = Buffer.from(sealed, 'base64');
    const decipher = createDecipheriv('aes-256-gcm', this.key, bytes.subarray(0, 12));
    decipher.setAAD(Buffer.from(aad));
    decipher.setAuthTag(bytes.subarray(12, 28));
    return Buffer.concat([decipher.update(bytes.subarray(28)), decipher.final()]).toString('utf8');
  }
}

/**
 * The data key: unwrapped from oauth_data_key, or made, wrapped and stored on the first start
 * (two replicas racing both read the winner's row).
 */
export async function loadKeyCipher(db: Sql, wrapper: KeyWrapper): Promise<KeyCipher> {
  const read = () =>
    db.query<{ kek: string; wrapped: string }>(
      'SELECT kek, wrapped FROM oauth_data_key WHERE name = $1',
      [KEY_NAME],
    );
  let [row] = await read();
  if (!row) {
    const wrapped = await wrapper.wrap(randomBytes(32));
    await db.query(
      `INSERT INTO oauth_data_key (name, kek, wrapped) VALUES ($1, $2, $3)
       ON CONFLICT (name) DO NOTHING`,
      [KEY_NAME, wrapper.id, wrapped.toString('base64')],
    );
    [row] = await read();
  }
  if (!row) throw new Error('oauth_data_key: the data key could not be stored');
  if (row.kek !== wrapper.id) {
    throw new Error(
      `the OAuth signing keys are wrapped by "${row.kek}", not by the configured key ` +
        `"${wrapper.id}" (the key that wraps the SSN data key wraps them too)`,
    );
  }
  try {
    return new KeyCipher(await wrapper.unwrap(Buffer.from(row.wrapped, 'base64')));
  } catch (error) {
    throw new Error(
      "the OAuth signing keys' data key can't be unwrapped with the configured key " +
        '(DATA_DIR/identity-kek, IDENTITY_KEK or KMS_KEY_ID): start with the key that wrapped it',
      { cause: error },
    );
  }
}
