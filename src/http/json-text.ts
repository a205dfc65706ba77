/**
 * What a JSON body must not be, checked on the text before it is parsed. A body nested
 * thousands of levels deep parses fine but overflows the stack of every recursive walk after
 * it (validation, FHIRPath, SQL extraction); a control character in a string is forbidden by
 * FHIR (strings allow only tab, CR and LF among them) and a NUL is refused by Postgres jsonb.
 * The scan is a single loop with a counter, so no input can make the check itself overflow.
 */

/** Deeper than any real resource: a Questionnaire 40 items deep is about 85 levels. */
export const MAX_JSON_DEPTH = 100;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const HEX4 = /^[0-9a-fA-F]{4}$/;

/** Control characters FHIR allows in a string: tab, LF, CR. */
const allowedControl = (code: number) => code === 0x09 || code === 0x0a || code === 0x0d;

/** Why `text` is refused, in words safe to send back (no request data), or undefined. */
export function jsonTextProblem(text: string, maxDepth = MAX_JSON_DEPTH): string | undefined {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === QUOTE) inString = false;
      else if (c === BACKSLASH) {
        const escape = text[i + 1];
        if (escape === 'u') {
          const hex = text.slice(i + 2, i + 6);
          const code = HEX4.test(hex) ? parseInt(hex, 16) : -1; // malformed: JSON.parse says so
          if (code >= 0 && code < 0x20 && !allowedControl(code)) return CONTROL;
          if (code >= 0xd800 && code <= 0xdfff) {
            // Only a high surrogate escape followed by a low one is a character; Postgres
            // (and every JSON consumer after us) refuses a lone one.
            const low = text.slice(i + 6, i + 8) === '\\u' ? text.slice(i + 8, i + 12) : '';
            const next = HEX4.test(low) ? parseInt(low, 16) : -1;
            if (code > 0xdbff || next < 0xdc00 || next > 0xdfff) return SURROGATE;
            i += 6;
          }
          i += 5;
        } else {
          if (escape === 'b' || escape === 'f') return CONTROL;
          i += 1;
        }
      } else if (c < 0x20) {
        return CONTROL; // unescaped: invalid JSON too, but say what is wrong
      }
    } else if (c === QUOTE) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > maxDepth) return `Request body is nested more than ${maxDepth} levels deep`;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return undefined;
}

const SURROGATE =
  'Request body has an unpaired UTF-16 surrogate escape (\\uD800-\\uDFFF) in a string';
const CONTROL =
  'Request body has a control character in a string; FHIR strings allow only tab, CR and LF';
