/**
 * US Social Security Numbers in Patient (and RelatedPerson, Practitioner) identifiers. At rest an
 * SSN identifier holds, instead of the number, a keyed-HMAC token (so an exact search still
 * finds it, a partial one can't) and the AES-256-GCM ciphertext in an extension; on the way out
 * it is shown masked, or in full to callers allowed to see it (reveal.ts).
 */
import type { Extension, Identifier } from 'fhir/r4.js';

export const SSN_SYSTEM = 'http://hl7.org/fhir/sid/us-ssn';
/** Holds the ciphertext of the SSN whose token is the identifier's value. */
export const SSN_CIPHERTEXT_URL = 'http://telefhir.dev/fhir/StructureDefinition/ssn-ciphertext';
/** Stored values start with this, so a token is never mistaken for a number. */
export const TOKEN_PREFIX = 'ssn-hmac-';

const MASKED = /^\*{3}-\*{2}-(\d{4})$/;
const FULL = /^(\d{3})-?(\d{2})-?(\d{4})$/;

/** The form hashed and encrypted: nine digits when it looks like an SSN, else as written. */
export function normaliseSsn(value: string): string {
  const trimmed = value.trim();
  const match = FULL.exec(trimmed);
  return match ? `${match[1]}${match[2]}${match[3]}` : trimmed;
}

/** `***-**-1234` from the last four digits (or `***-**-****` when there aren't four). */
export function maskSsn(plain: string): string {
  const digits = normaliseSsn(plain).replace(/\D/g, '');
  return `***-**-${digits.length >= 4 ? digits.slice(-4) : '****'}`;
}

/** The last four digits a masked value shows, when `value` is one. */
export function maskedLastFour(value: string): string | undefined {
  return MASKED.exec(value.trim())?.[1];
}

export function isSsnIdentifier(identifier: unknown): identifier is Identifier {
  return (
    typeof identifier === 'object' &&
    identifier !== null &&
    (identifier as Identifier).system === SSN_SYSTEM
  );
}

export function isToken(value: string | undefined): boolean {
  return value?.startsWith(TOKEN_PREFIX) ?? false;
}

export function ciphertextOf(identifier: Identifier): string | undefined {
  return identifier.extension?.find((e) => e.url === SSN_CIPHERTEXT_URL)?.valueString;
}

/** The identifier's extensions without ours (a client may not supply a ciphertext). */
export function otherExtensions(identifier: Identifier): Extension[] | undefined {
  const rest = identifier.extension?.filter((e) => e.url !== SSN_CIPHERTEXT_URL);
  return rest?.length ? rest : undefined;
}
