/**
 * The key-encryption key (KEK) of the SSN data key. Production: a KMS key (KMS_KEY_ID), so the
 * data key can only be unwrapped by a role KMS lets decrypt, and every unwrap is in CloudTrail.
 * Or IDENTITY_KEK, a 32-byte key from a secret manager. Outside production, with neither: a
 * random 32-byte key in a file in DATA_DIR, made on first start (mode 0600). The file and
 * IDENTITY_KEK are the same kind of key (id `local`): setting IDENTITY_KEK to the file's
 * contents carries a deployment from the file to a managed secret.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface KeyWrapper {
  /** Stored next to the wrapped key: which KEK wrapped it (refusing to unwrap with another). */
  readonly id: string;
  wrap(key: Buffer): Promise<Buffer>;
  unwrap(wrapped: Buffer): Promise<Buffer>;
}

/** Binds a wrapped key to its purpose: KMS refuses to decrypt it under another context. */
export const CONTEXT = { purpose: 'telefhir-ssn-data-key' };
const KEY_FILE = 'identity-kek';

/** AES-256-GCM with the KEK: iv (12) | tag (16) | ciphertext. */
export class LocalKeyWrapper implements KeyWrapper {
  readonly id = 'local';
  constructor(private readonly kek: Buffer) {
    if (kek.length !== 32) throw new Error('the local key-encryption key must be 32 bytes');
  }

  /** The key file in `dataDir`, created when absent (`wx`: two starting processes can't both). */
  static open(dataDir: string): LocalKeyWrapper {
    mkdirSync(dataDir, { recursive: true });
    const path = join(dataDir, KEY_FILE);
    try {
      writeFileSync(path, randomBytes(32).toString('base64'), { flag: 'wx', mode: 0o600 });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    return new LocalKeyWrapper(Buffer.from(readFileSync(path, 'utf8').trim(), 'base64'));
  }

  // async: a failure is a rejection, like KMS's, never a synchronous throw.
  async wrap(key: Buffer): Promise<Buffer> {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.kek, iv);
    cipher.setAAD(Buffer.from(CONTEXT.purpose));
    const body = Buffer.concat([cipher.update(key), cipher.final()]);
    return Buffer.concat([iv, cipher.getAuthTag(), body]);
  }

  async unwrap(wrapped: Buffer): Promise<Buffer> {
    const decipher = createDecipheriv('aes-256-gcm', this.kek, wrapped.subarray(0, 12));
    decipher.setAAD(Buffer.from(CONTEXT.purpose));
    decipher.setAuthTag(wrapped.subarray(12, 28));
    return Buffer.concat([decipher.update(wrapped.subarray(28)), decipher.final()]);
  }
}

export async function openKeyWrapper(config: {
  kmsKeyId: string | undefined;
  kek?: Buffer | undefined;
  dataDir: string;
  region: string;
}): Promise<KeyWrapper> {
  if (config.kek) return new LocalKeyWrapper(config.kek);
  if (!config.kmsKeyId) return LocalKeyWrapper.open(config.dataDir);
  // The KMS client is loaded only when a KMS key is configured.
  const { KmsKeyWrapper } = await import('./kms-key-wrapper.js');
  return KmsKeyWrapper.open(config.kmsKeyId, config.region);
}
