/** The production key-encryption key: a KMS key (see key-wrapper.ts). */
import { DecryptCommand, EncryptCommand, KMSClient } from '@aws-sdk/client-kms';
import { CONTEXT, type KeyWrapper } from './key-wrapper.js';

/** KMS Encrypt/Decrypt of the 32-byte data key under `keyId`, with an encryption context. */
export class KmsKeyWrapper implements KeyWrapper {
  constructor(
    readonly id: string,
    private readonly client: KMSClient,
  ) {}

  /** The endpoint comes from the standard AWS settings (AWS_ENDPOINT_URL_KMS in tests). */
  static open(keyId: string, region: string): KmsKeyWrapper {
    return new KmsKeyWrapper(keyId, new KMSClient({ region }));
  }

  async wrap(key: Buffer): Promise<Buffer> {
    const out = await this.client.send(
      new EncryptCommand({ KeyId: this.id, Plaintext: key, EncryptionContext: CONTEXT }),
    );
    if (!out.CiphertextBlob) throw new Error('KMS Encrypt returned no ciphertext');
    return Buffer.from(out.CiphertextBlob);
  }

  async unwrap(wrapped: Buffer): Promise<Buffer> {
    const out = await this.client.send(
      new DecryptCommand({ KeyId: this.id, CiphertextBlob: wrapped, EncryptionContext: CONTEXT }),
    );
    if (!out.Plaintext) throw new Error('KMS Decrypt returned no plaintext');
    return Buffer.from(out.Plaintext);
  }
}
