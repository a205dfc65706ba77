/**
 * What the de-identification tests scan for: every identifying value of a set of resources
 * (ids, names, identifiers, telecom, address parts, free text and attachments, references),
 * by kind, and how to look for each in de-identified output.
 */
import type { Resource } from 'fhir/r4.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Every code of the input: codes are kept by design (a display equal to its code is no leak). */
function codes(resources: Resource[]): Set<string> {
  const found = new Set<string>();
  visit(resources, (node) => {
    if (typeof node.code === 'string') found.add(node.code);
  });
  return found;
}

/** Short words (displays, texts) are looked for as whole values, not inside other values. */
export const WHOLE_VALUE = new Set(['display', 'text']);

export function visit(
  value: unknown,
  fn: (node: Json, key: string | undefined) => void,
  key?: string,
) {
  if (Array.isArray(value)) value.forEach((v) => visit(v, fn, key));
  else if (value && typeof value === 'object') {
    fn(value as Json, key);
    for (const [k, v] of Object.entries(value)) visit(v, fn, k);
  }
}

/** The identifying values of the input, by kind (each at least two characters). */
export function identifyingValues(
  resources: Resource[],
  extra: Record<string, unknown> = {},
): Map<string, string> {
  const kept = codes(resources);
  const values = new Map<string, string>();
  const add = (kind: string, v: unknown) => {
    if (typeof v !== 'string' || v.length < 2 || values.has(v)) return;
    if (!WHOLE_VALUE.has(kind) || !kept.has(v)) values.set(v, kind);
  };
  for (const resource of resources) add('id', resource.id);
  visit(resources, (node, key) => {
    if (key === 'name' || 'family' in node || 'given' in node) {
      add('name', node.family);
      for (const part of [...(node.given ?? []), ...(node.prefix ?? []), ...(node.suffix ?? [])])
        add('name', part);
      if (typeof node.name === 'string') add('name', node.name);
    }
    if (key === 'identifier') add('identifier', node.value);
    if (key === 'telecom') add('telecom', node.value);
    if ('line' in node || 'city' in node) {
      for (const line of node.line ?? []) add('street', line);
      add('city', node.city);
      add('district', node.district);
      add('postalCode', node.postalCode);
    }
    for (const k of ['div', 'description', 'comment', 'title', 'patientInstruction', 'display'])
      add(k, node[k]);
    if (typeof node.text === 'string') add('text', node.text);
    if (typeof node.data === 'string') {
      add('data', node.data);
      for (const line of Buffer.from(node.data, 'base64').toString('utf8').split('\n'))
        add('data text', line);
    }
    if (typeof node.url === 'string' && key === 'attachment') add('url', node.url);
    if (typeof node.reference === 'string') add('reference', node.reference);
    if (node.resourceType && typeof node.id === 'string') add('id', node.id);
  });
  for (const [name, v] of Object.entries(extra)) add(name, String(v));
  return values;
}

/** The values of `values` found in `output`, as `kind: value`. */
export function leaks(values: Map<string, string>, output: Resource[]): string[] {
  const text = output.map((r) => JSON.stringify(r)).join('\n');
  // A short value (a two-letter suffix) can occur by chance inside a 43-character pseudonym,
  // so it is looked for outside them; a long one in the raw bytes too.
  const withoutPseudonyms = text.replace(/[A-Za-z0-9\-.]{43}/g, '#');
  const strings = new Set<string>();
  visit(output, (node) => {
    for (const v of Object.values(node)) {
      if (typeof v === 'string') strings.add(v);
      if (Array.isArray(v)) v.forEach((x) => typeof x === 'string' && strings.add(x));
    }
  });
  const found: string[] = [];
  for (const [value, kind] of values) {
    const hit = WHOLE_VALUE.has(kind)
      ? strings.has(value)
      : withoutPseudonyms.includes(value) || (value.length >= 8 && text.includes(value));
    if (hit) found.push(`${kind}: ${value}`);
  }
  return found;
}
