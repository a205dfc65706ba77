/**
 * Locations inside a resource, written the way FHIR tools report them: FHIRPath with the
 * resource type first and zero-based indexes on repeating elements, e.g.
 * `Patient.name[0].given[1]`. Both validation layers use these so that an issue found by the
 * JSON schema and one found by an invariant name the same element the same way.
 */

/**
 * A JSON pointer (ajv's `instancePath`, e.g. `/name/0/given/1`) as FHIRPath under `root`.
 *
 * A primitive's `_element` sibling (`_birthDate`) holds that primitive's id and extensions, so
 * it is reported as the primitive itself: `/_birthDate/extension/0` → `Patient.birthDate.extension[0]`.
 * FHIR element names are never numeric, so an all-digit segment is always an array index.
 */
export function pointerToFhirPath(root: string, pointer: string): string {
  if (pointer === '') return root;
  let path = root;
  for (const raw of pointer.slice(1).split('/')) {
    if (isIndex(raw)) {
      path += `[${raw}]`;
      continue;
    }
    const segment = raw.includes('~') ? raw.replace(/~1/g, '/').replace(/~0/g, '~') : raw;
    path += '.' + elementName(segment);
  }
  return path;
}

/** `_birthDate` → `birthDate`; other names unchanged. */
export function elementName(property: string): string {
  return property.length > 1 && property.charCodeAt(0) === 95 /* _ */
    ? property.slice(1)
    : property;
}

function isIndex(segment: string): boolean {
  if (segment.length === 0) return false;
  for (let i = 0; i < segment.length; i++) {
    const c = segment.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/** One node of a resource found at an element path, with where it is. */
export interface LocatedNode {
  node: unknown;
  /** FHIRPath with indexes, e.g. `Patient.contact[0]`. */
  expression: string;
}

/**
 * Every node at an ElementDefinition path (`Patient.contact.telecom`, no indexes) in
 * `resource`, in document order. A choice element (`Observation.value[x]`) matches whichever
 * `valueQuantity`, `valueString`, … is present, reported under its JSON name, which is how
 * the instance spells it. Paths that don't start with the resource's type match nothing.
 */
export function nodesAtPath(resource: Record<string, unknown>, path: string): LocatedNode[] {
  const segments = path.split('.');
  const root = segments[0];
  if (root === undefined || root !== resource.resourceType) return [];
  let current: LocatedNode[] = [{ node: resource, expression: root }];
  for (let s = 1; s < segments.length && current.length > 0; s++) {
    const name = segments[s] as string;
    const next: LocatedNode[] = [];
    for (const { node, expression } of current) {
      if (node === null || typeof node !== 'object' || Array.isArray(node)) continue;
      const object = node as Record<string, unknown>;
      if (name.endsWith('[x]')) {
        const stem = name.slice(0, -3);
        for (const key of Object.keys(object)) {
          if (isChoiceOf(stem, key)) pushValues(next, object[key], `${expression}.${key}`);
        }
      } else {
        pushValues(next, object[name], `${expression}.${name}`);
      }
    }
    current = next;
  }
  return current;
}

/** `valueQuantity` is a choice of `value`; `valueSetReference` would not be of `valueSet`. */
function isChoiceOf(stem: string, key: string): boolean {
  if (key.length <= stem.length || !key.startsWith(stem)) return false;
  const c = key.charCodeAt(stem.length);
  return c >= 65 && c <= 90; // the type name starts upper-case
}

function pushValues(into: LocatedNode[], value: unknown, expression: string): void {
  if (value === undefined || value === null) return;
  if (Array.isArray(value)) {
    value.forEach((item, i) => {
      if (item !== null && item !== undefined)
        into.push({ node: item, expression: `${expression}[${i}]` });
    });
  } else {
    into.push({ node: value, expression });
  }
}
