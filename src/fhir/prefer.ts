export type ReturnPreference = 'minimal' | 'representation' | 'OperationOutcome';

export interface Preferences {
  return: ReturnPreference;
  /** `handling=strict`: refuse what would otherwise be ignored (unknown parameters). */
  strict: boolean;
}

/** Reads RFC 7240 `Prefer` tokens that FHIR defines; unknown tokens are ignored, as 7240 says. */
export function parsePrefer(header: string | string[] | undefined): Preferences {
  const prefs: Preferences = { return: 'representation', strict: false };
  const values = Array.isArray(header) ? header : header ? [header] : [];
  for (const token of values.flatMap((value) => value.split(','))) {
    const [name, rawValue = ''] = token
      .split(';')[0]!
      .split('=')
      .map((part) => part.trim());
    const value = rawValue.replace(/^"|"$/g, '');
    if (name === 'return' && ['minimal', 'representation', 'OperationOutcome'].includes(value)) {
      prefs.return = value as ReturnPreference;
    } else if (name === 'handling') {
      prefs.strict = value === 'strict';
    }
  }
  return prefs;
}
