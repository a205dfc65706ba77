import type { IndexValues } from '../../src/search/extract.js';
import type { SearchParamDef } from '../../src/search/registry.js';

/** The rows of one kind for one code, without the code. */
export function rows<K extends keyof IndexValues>(
  values: IndexValues,
  kind: K,
  code: string,
): Omit<IndexValues[K][number], 'code'>[] {
  return (values[kind] as IndexValues[K][number][])
    .filter((row) => row.code === code)
    .map(({ code: _code, ...rest }) => rest);
}

/** A definition outside the registry, for datatypes no registered parameter reaches. */
export function def(
  resourceType: string,
  code: string,
  type: SearchParamDef['type'],
  expression: string,
): SearchParamDef {
  return { resourceType, code, type, expression, targets: [], description: '', url: '' };
}
