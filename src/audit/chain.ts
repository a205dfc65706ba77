import { createHash } from 'node:crypto';

/**
 * The prev_hash of the first event ever written. The migration (003_audit.sql) seeds the chain
 * head and anchor with the same 64 zeros; the two must agree.
 */
export const GENESIS_HASH = '0'.repeat(64);

/**
 * JSON with object keys sorted (by UTF-16 code units, as Array.prototype.sort does) and no
 * whitespace; numbers and strings serialised as JSON.stringify does. That is RFC 8785 (JCS)
 * for the values FHIR JSON holds, so the hash depends on the event's content only, not on the
 * key order a driver or a json column happens to return.
 */
export function canonicalJson(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object' && typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    return canonicalJson((value as { toJSON(): unknown }).toJSON());
  }
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'number':
      // A hash over "null" for NaN would silently accept a corrupted value.
      if (!Number.isFinite(value)) throw new TypeError('canonicalJson: non-finite number');
      return JSON.stringify(value);
    case 'object': {
      if (Array.isArray(value)) {
        return `[${value.map((item) => (item === undefined ? 'null' : canonicalJson(item))).join(',')}]`;
      }
      const record = value as Record<string, unknown>;
      const members = Object.keys(record)
        .filter((key) => record[key] !== undefined)
        .sort()
        .map((key) => `${JSON.stringify(key)}:${canonicalJson(record[key])}`);
      return `{${members.join(',')}}`;
    }
    default:
      throw new TypeError(`canonicalJson: cannot serialise a ${typeof value}`);
  }
}

/** SHA-256 (hex) over the previous link's hash, a newline and the event's canonical JSON. */
export function hashEvent(prevHash: string, canonicalJson: string): string {
  return createHash('sha256').update(prevHash).update('\n').update(canonicalJson).digest('hex');
}
