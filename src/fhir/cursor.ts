import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { FhirError } from './errors.js';

/**
 * Paging cursors travel through clients, so they are sealed with AES-256-GCM: a client can
 * neither read one nor alter it, and any change fails authentication and becomes a 400.
 * The key is shared by every replica (kept in the store), so any replica can open any cursor.
 */
export function sealCursor(key: Buffer, payload: unknown): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const body = Buffer.concat([cipher.update(JSON.stringify(payload), 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url');
}

export function openCursor(key: Buffer, token: string): unknown {
  const invalid = new FhirError(400, 'invalid', 'The paging cursor is invalid or has been altered');
  const raw = Buffer.from(token, 'base64url');
  if (raw.length < 29 || raw.toString('base64url') !== token) throw invalid;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
    decipher.setAuthTag(raw.subarray(12, 28));
    const text = Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString(
      'utf8',
    );
    return JSON.parse(text) as unknown;
  } catch {
    throw invalid;
  }
}
