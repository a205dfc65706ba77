/**
 * The form string search values are stored and compared in: FHIR string search is
 * case- and accent-insensitive, so `Müller`, `MULLER` and `muller` must meet. Lowercasing
 * comes first so that e.g. `İ` → `i̇` loses its dot with the other combining marks; the
 * final NFC recomposes what NFD split but isn't a mark (Hangul syllables).
 */
export function normaliseString(value: string): string {
  return value
    .toLowerCase()
    .normalize('NFD')
    .replace(/\p{M}/gu, '')
    .normalize('NFC')
    .replace(/\s+/g, ' ')
    .trim();
}
