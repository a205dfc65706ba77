/**
 * SSNs on the way out. Every response body passes here (a preSerialization hook, see
 * plugin.ts): reads, vreads, searches with their _include entries, history, batch and
 * transaction responses, operation outputs and `Prefer: return=representation` alike. A sealed
 * SSN identifier is shown masked (`***-**-1234`), or in full to a caller allowed to see it;
 * the token and ciphertext never leave the server.
 */
import type { Identifier } from 'fhir/r4.js';
import type { AccessPolicy } from '../auth/policy.js';
import { plaintextOf } from './protect.js';
import type { SsnCipher } from './ssn-cipher.js';
import { isToken, maskSsn, otherExtensions, SSN_SYSTEM } from './ssn.js';

/** A scope (besides the ADMIN role) that lets a caller see SSNs in full, e.g. a billing service. */
export const SSN_READ_SCOPE = 'telefhir/ssn.read';

export function maySeeSsn(policy: Pick<AccessPolicy, 'principal'>): boolean {
  const { roles, scopes } = policy.principal;
  return roles.includes('ADMIN') || scopes.other.includes(SSN_READ_SCOPE);
}

function shown(cipher: SsnCipher, identifier: Identifier, full: boolean): Identifier {
  const value = identifier.value!;
  const plain = isToken(value) ? plaintextOf(cipher, identifier) : value;
  const { extension: _e, value: _v, ...rest } = identifier;
  const extension = otherExtensions(identifier);
  return {
    ...rest,
    ...(extension ? { extension } : {}),
    value: plain === undefined ? '***-**-****' : full ? plain : maskSsn(plain),
  };
}

/**
 * `payload` with every SSN identifier shown as the caller may see it; objects without one are
 * returned as they are (the same object), so a response without SSNs costs one walk.
 */
export function revealSsns(cipher: SsnCipher, payload: unknown, full: boolean): unknown {
  // Loops that copy only on a change: every response passes here, nearly all without an SSN.
  if (Array.isArray(payload)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < payload.length; i++) {
      const item: unknown = payload[i];
      const next = revealSsns(cipher, item, full);
      if (next !== item) (copy ??= payload.slice())[i] = next;
    }
    return copy ?? payload;
  }
  if (typeof payload !== 'object' || payload === null) return payload;
  const record = payload as Record<string, unknown>;
  if (record.system === SSN_SYSTEM && typeof record.value === 'string') {
    return shown(cipher, record as Identifier, full);
  }
  let copy: Record<string, unknown> | undefined;
  for (const key in record) {
    if (!Object.hasOwn(record, key)) continue;
    const value = record[key];
    if (typeof value !== 'object' || value === null) continue;
    const next = revealSsns(cipher, value, full);
    if (next !== value) (copy ??= { ...record })[key] = next;
  }
  return copy ?? payload;
}
