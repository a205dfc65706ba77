/**
 * SSN search: `identifier=http://hl7.org/fhir/sid/us-ssn|123-45-6789` becomes a search for the
 * number's token, which is what the index holds, so the full number finds the patient and a
 * partial one finds nothing. Rewritten wherever it appears (chains and _has too), before the
 * query is parsed, so neither the self link nor a paging cursor carries the number.
 */
import type { SsnCipher } from './ssn-cipher.js';
import { isToken, SSN_SYSTEM } from './ssn.js';

const PREFIX = `${SSN_SYSTEM}|`;

function rewriteValue(cipher: SsnCipher, value: string): string {
  return value
    .split(/(?<!\\),/)
    .map((part) => {
      if (!part.startsWith(PREFIX)) return part;
      const number = part.slice(PREFIX.length);
      return number === '' || isToken(number) ? part : PREFIX + cipher.token(number);
    })
    .join(',');
}

/** The same parameters with SSNs replaced by their tokens; `params` itself when there are none. */
export function rewriteSsnSearch(cipher: SsnCipher, params: URLSearchParams): URLSearchParams {
  const entries = [...params];
  if (!entries.some(([, value]) => value.includes(PREFIX))) return params;
  return new URLSearchParams(entries.map(([name, value]) => [name, rewriteValue(cipher, value)]));
}
