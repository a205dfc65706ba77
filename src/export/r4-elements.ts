/**
 * R4's element model, flattened for walking JSON: for every resource, complex datatype and
 * backbone element, what each JSON property is (its definition path and type). A choice
 * element `value[x]` appears under each of its JSON names (`valueString`, `valueQuantity`, ...),
 * a backbone element or a contentReference under the path whose children it has. Built once
 * per process from the base StructureDefinitions and never modified.
 */
import type { ElementDefinition } from 'fhir/r4.js';
import { r4StructureDefinitions } from '../fhir/r4-definitions.js';

export interface R4Element {
  /** The definition path, e.g. `Patient.contact.name` or `Observation.value[x]`. */
  readonly path: string;
  /**
   * The type code (`string`, `HumanName`, `Resource`, ...). For a backbone element or a
   * contentReference, `BackboneElement`, and `children` is the path that holds its elements.
   */
  readonly type: string;
  readonly children?: string;
  readonly array: boolean;
  /** Its JSON name; for a choice element, the stem (`value`). */
  readonly name: string;
  /** 1 or more: a value must be present (not for choice elements: none is required here). */
  readonly min: number;
}

export interface R4Elements {
  /** The elements of a resource or datatype (`Patient`, `HumanName`) or backbone path. */
  of(path: string): ReadonlyMap<string, R4Element> | undefined;
  /** The elements of `path` that must have a value (min ≥ 1), choice elements left out. */
  required(path: string): readonly R4Element[];
  isResourceType(type: string): boolean;
}

const FHIR_TYPE = 'http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type';
const upperFirst = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/** `http://hl7.org/fhirpath/System.String` with the fhir-type extension `uri` → `uri`. */
function typeCode(type: NonNullable<ElementDefinition['type']>[number]): string {
  if (!type.code.startsWith('http://hl7.org/fhirpath/')) return type.code;
  const declared = type.extension?.find((e) => e.url === FHIR_TYPE)?.valueUrl;
  return declared ?? 'string';
}

let model: R4Elements | undefined;

export function r4Elements(): R4Elements {
  model ??= build();
  return model;
}

function build(): R4Elements {
  const byPath = new Map<string, Map<string, R4Element>>();
  const resourceTypes = new Set<string>();
  for (const sd of r4StructureDefinitions()) {
    if (sd.derivation === 'constraint' || !sd.snapshot) continue;
    if (sd.kind !== 'resource' && sd.kind !== 'complex-type') continue;
    if (sd.kind === 'resource') resourceTypes.add(sd.type);
    const elements = sd.snapshot.element;
    const parents = new Set(elements.map((e) => e.path.slice(0, e.path.lastIndexOf('.'))));
    for (const element of elements) {
      const dot = element.path.lastIndexOf('.');
      if (dot < 0 || element.sliceName) continue;
      const parent = element.path.slice(0, dot);
      const name = element.path.slice(dot + 1);
      let children = byPath.get(parent);
      if (!children) byPath.set(parent, (children = new Map()));
      const array = element.max !== '1' && element.max !== '0';
      const min = element.min ?? 0;
      if (element.contentReference) {
        const target = element.contentReference.slice(element.contentReference.indexOf('#') + 1);
        children.set(name, {
          path: element.path,
          type: 'BackboneElement',
          children: target,
          array,
          name,
          min,
        });
        continue;
      }
      const types = element.type ?? [];
      if (name.endsWith('[x]')) {
        const stem = name.slice(0, -3);
        for (const type of types) {
          const code = typeCode(type);
          children.set(stem + upperFirst(code), {
            path: element.path,
            type: code,
            array,
            name: stem,
            min: 0,
          });
        }
        continue;
      }
      const code = types.length === 1 ? typeCode(types[0]!) : 'Element';
      const inline =
        parents.has(element.path) && (code === 'BackboneElement' || code === 'Element');
      children.set(name, {
        path: element.path,
        type: inline ? 'BackboneElement' : code,
        ...(inline ? { children: element.path } : {}),
        array,
        name,
        min,
      });
    }
  }
  const required = new Map<string, R4Element[]>();
  for (const [path, children] of byPath) {
    const needed = [...new Set(children.values())].filter((e) => e.min > 0);
    if (needed.length > 0) required.set(path, needed);
  }
  return {
    of: (path) => byPath.get(path),
    required: (path) => required.get(path) ?? [],
    isResourceType: (type) => resourceTypes.has(type),
  };
}
