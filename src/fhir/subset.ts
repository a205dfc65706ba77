import { r4StructureDefinitions } from './r4-definitions.js';
import type { Resource } from 'fhir/r4.js';
import type { SummaryMode } from '../search/query.js';

const SUBSETTED = {
  system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue',
  code: 'SUBSETTED',
  display: 'subsetted',
};

let summaryElements: Map<string, Set<string>> | undefined;

/** Top-level elements marked isSummary in the R4 base definitions, by type (immutable data). */
function summaryOf(type: string): Set<string> {
  if (!summaryElements) {
    summaryElements = new Map();
    for (const definition of r4StructureDefinitions()) {
      if (definition.kind !== 'resource') continue;
      const names = new Set<string>();
      for (const element of definition.snapshot?.element ?? []) {
        const parts = element.path.split('.');
        if (parts.length === 2 && element.isSummary) names.add(parts[1]!.replace('[x]', ''));
      }
      summaryElements.set(definition.type, names);
    }
  }
  return summaryElements.get(type) ?? new Set();
}

/** Keeps resourceType, id, meta and the named elements; choice elements match by prefix. */
function keep(resource: Resource, wanted: (name: string) => boolean): Resource {
  const kept: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(resource)) {
    if (name === 'resourceType' || name === 'id' || name === 'meta' || wanted(name))
      kept[name] = value;
  }
  const meta = (resource.meta ?? {}) as NonNullable<Resource['meta']>;
  kept.meta = { ...meta, tag: [...(meta.tag ?? []), SUBSETTED] };
  return kept as unknown as Resource;
}

const choiceMatch = (names: Set<string>, name: string) =>
  names.has(name) ||
  [...names].some((base) => name.startsWith(base) && /^[A-Z]/.test(name.slice(base.length)));

/** `_summary` and `_elements` applied to one resource, marked SUBSETTED when anything was cut. */
export function subset(
  resource: Resource,
  summary: SummaryMode | undefined,
  elements: string[] | undefined,
): Resource {
  if (elements?.length) {
    const names = new Set(elements.map((element) => element.replace('[x]', '')));
    return keep(resource, (name) => choiceMatch(names, name));
  }
  switch (summary) {
    case 'true': {
      const names = summaryOf(resource.resourceType);
      return keep(resource, (name) => choiceMatch(names, name));
    }
    case 'text':
      return keep(resource, (name) => name === 'text');
    case 'data':
      return keep(resource, (name) => name !== 'text');
    default:
      return resource;
  }
}
