/**
 * What a stored SSN identifier looks like, made from what a client sent. Pure: the caller
 * supplies the identifiers of the version being replaced.
 */
import type { Identifier } from 'fhir/r4.js';
import { FhirError } from '../fhir/errors.js';
import type { SsnCipher } from './ssn-cipher.js';
import {
  ciphertextOf,
  isSsnIdentifier,
  isToken,
  maskedLastFour,
  maskSsn,
  otherExtensions,
  SSN_CIPHERTEXT_URL,
} from './ssn.js';

/** The plaintext of a stored SSN identifier, when its ciphertext authenticates. */
export function plaintextOf(cipher: SsnCipher, identifier: Identifier): string | undefined {
  const ciphertext = ciphertextOf(identifier);
  return ciphertext && identifier.value && isToken(identifier.value)
    ? cipher.decrypt(ciphertext, identifier.value)
    : undefined;
}

function sealed(cipher: SsnCipher, identifier: Identifier, plain: string): Identifier {
  const token = cipher.token(plain);
  const extension = [
    ...(otherExtensions(identifier) ?? []),
    { url: SSN_CIPHERTEXT_URL, valueString: cipher.encrypt(plain, token) },
  ];
  return { ...identifier, extension, value: token };
}

const refused = (at: string, why: string) =>
  new FhirError(422, 'invalid', `${why}`, `${at}.identifier`);

/**
 * One SSN identifier in its stored form:
 *  - a number → its token, the ciphertext in an extension;
 *  - a masked value (`***-**-1234`, what most callers were shown) → the stored identifier of the
 *    replaced version with those last four digits, so resending a read resource keeps the SSN;
 *  - an already-sealed identifier that authenticates (server code rewriting a stored resource)
 *    → unchanged. A token without a valid ciphertext is refused: only the server makes them.
 */
function protectOne(
  cipher: SsnCipher,
  type: string,
  identifier: Identifier,
  stored: Identifier[] | undefined,
): Identifier {
  const value = identifier.value;
  if (value === undefined) {
    const extension = otherExtensions(identifier);
    const { extension: _dropped, ...rest } = identifier;
    return extension ? { ...rest, extension } : rest;
  }
  if (isToken(value)) {
    if (plaintextOf(cipher, identifier) !== undefined) return identifier;
    throw refused(type, 'An SSN identifier value must be the number itself');
  }
  if (maskedLastFour(value) !== undefined) {
    if (!stored) return identifier; // resolved later, where the replaced version is known
    const same = stored.find((old) => {
      const plain = plaintextOf(cipher, old);
      return plain !== undefined && maskSsn(plain) === value.trim();
    });
    if (!same) {
      throw refused(
        type,
        'A masked SSN can only be sent back unchanged on an update of the resource it was read from; send the full number to change it',
      );
    }
    const { extension: _e, value: _v, ...rest } = identifier;
    return { ...rest, value: same.value, extension: same.extension };
  }
  return sealed(cipher, identifier, value);
}

/** Every SSN identifier anywhere in `node`. */
export function ssnIdentifiersIn(node: unknown, found: Identifier[] = []): Identifier[] {
  if (Array.isArray(node)) for (const item of node) ssnIdentifiersIn(item, found);
  else if (typeof node === 'object' && node !== null) {
    if (isSsnIdentifier(node)) found.push(node);
    else for (const value of Object.values(node)) ssnIdentifiersIn(value, found);
  }
  return found;
}

/**
 * `resource` with every SSN identifier in its stored form, wherever it sits: the resource's own
 * identifiers, contained resources', a Reference's logical identifier. Unchanged parts are
 * shared, not copied. `previous` is the version being replaced (masked values resolve to it).
 */
export function protectResource<T>(
  cipher: SsnCipher,
  resource: T,
  previous: unknown,
  /** Leave masked values as they are (the REST boundary, which doesn't know `previous`). */
  numbersOnly = false,
): T {
  const type = (resource as { resourceType?: string }).resourceType ?? 'Resource';
  const stored = numbersOnly ? undefined : ssnIdentifiersIn(previous);
  const walk = (node: unknown): unknown => {
    if (Array.isArray(node)) {
      const out = node.map(walk);
      return out.some((item, i) => item !== node[i]) ? out : node;
    }
    if (typeof node !== 'object' || node === null) return node;
    if (isSsnIdentifier(node)) return protectOne(cipher, type, node, stored);
    let copy: Record<string, unknown> | undefined;
    for (const [key, value] of Object.entries(node)) {
      const next = walk(value);
      if (next !== value) (copy ??= { ...(node as Record<string, unknown>) })[key] = next;
    }
    return copy ?? node;
  };
  return walk(resource) as T;
}
