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
  // Built by concatenation, without per-object arrays: every audited request hashes its
  // event, and map/filter/join/sort copies were a quarter of a search's allocations.
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'number':
      // A hash over "null" for NaN would silently accept a corrupted value.
      if (!Number.isFinite(value)) throw new TypeError('canonicalJson: non-finite number');
      return JSON.stringify(value);
    case 'object': {
      if (typeof (value as { toJSON?: unknown }).toJSON === 'function') {
        return canonicalJson((value as { toJSON(): unknown }).toJSON());
      }
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) {
          const item: unknown = value[i];
          out += (i === 0 ? '' : ',') + (item === undefined ? 'null' : canonicalJson(item));
        }
        return `${out}]`;
      }
      const record = value as Record<string, unknown>;
      const keys = sortedInPlace(Object.keys(record));
      let out = '{';
      let first = true;
      for (const key of keys) {
        const member = record[key];
        if (member === undefined) continue;
        out += `${first ? '' : ','}${JSON.stringify(key)}:${canonicalJson(member)}`;
        first = false;
      }
      return `${out}}`;
    }
    default:
      throw new TypeError(`canonicalJson: cannot serialise a ${typeof value}`);
  }
}

/**
 * `keys` in UTF-16 code unit order, as Array.prototype.sort orders strings. FHIR objects have
 * a handful of keys: an insertion sort in place allocates nothing, where sort() copies.
 */
function sortedInPlace(keys: string[]): string[] {
  if (keys.length > 24) return keys.sort();
  for (let i = 1; i < keys.length; i++) {
    const key = keys[i]!;
    let j = i - 1;
    for (; j >= 0 && keys[j]! > key; j--) keys[j + 1] = keys[j]!;
    keys[j + 1] = key;
  }
  return keys;
}

/** SHA-256 (hex) over the previous link's hash, a newline and the event's canonical JSON. */
export function hashEvent(prevHash: string, canonicalJson: string): string {
  return createHash('sha256').update(prevHash).update('\n').update(canonicalJson).digest('hex');
}
