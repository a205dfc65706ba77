import type { ElementDefinition, ElementDefinitionType } from 'fhir/r4.js';
import { r4StructureDefinitions } from '../fhir/r4-definitions.js';
import { parseReference } from './references.js';

/** What a compiled FHIRPath evaluation yields, in the shape extract.ts unwraps. */
export interface TypedNode {
  data: unknown;
  fhirNodeDataType: string;
}

/**
 * `Type.a.b`, optionally ending in `.where(refTypeIs('X'))` (extract.ts's write-time form of
 * `.where(resolve() is X)`), or several such joined by ` | `: no other functions, casts or
 * indexers.
 */
const PART =
  /^([A-Z][A-Za-z]*(?:\.[a-z][A-Za-z]*)+)(?:\.where\(refTypeIs\('([A-Z][A-Za-z]*)'\)\))?$/;

let elementsByPath: Map<string, ElementDefinition> | undefined;
const complexTypes = new Set<string>();

/**
 * Every element of R4's resources and complex datatypes, by path (their own and their backbone
 * elements'), from the base definitions (specializations, not profiles such as SimpleQuantity).
 */
function elementAt(path: string): ElementDefinition | undefined {
  if (!elementsByPath) {
    elementsByPath = new Map();
    for (const sd of r4StructureDefinitions()) {
      if (sd.derivation !== 'specialization') continue;
      if (sd.kind !== 'resource' && sd.kind !== 'complex-type') continue;
      if (sd.kind === 'complex-type') complexTypes.add(sd.type);
      for (const element of sd.snapshot?.element ?? []) elementsByPath.set(element.path, element);
    }
  }
  return elementsByPath.get(path);
}

const FHIR_TYPE = 'http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type';

/** A type code as FHIRPath names the type: `id` elements are System.String, typed `string`. */
function typeName(type: ElementDefinitionType): string | undefined {
  if (!type.code.startsWith('http://')) return type.code;
  return type.extension?.find((extension) => extension.url === FHIR_TYPE)?.valueUrl;
}

interface Path {
  type: string;
  steps: string[];
  /** The last element's one datatype, as FHIRPath names it. */
  leafType: string;
  /** Keep only References whose target is of this type. */
  targetType?: string;
}

/**
 * A path whose every step is an element R4 defines with exactly one type (no choice, no
 * contentReference), so walking the JSON gives what FHIRPath gives, typed as the model types it.
 * A step into a complex datatype continues in that datatype's definition (`meta.lastUpdated`
 * is Meta.lastUpdated).
 */
function planPath(expression: string, targetType: string | undefined): Path | undefined {
  const [type, ...steps] = expression.split('.');
  if (!type || steps.length === 0) return undefined;
  let at = type;
  let leafType: string | undefined;
  for (let i = 0; i < steps.length; i++) {
    const element = elementAt(`${at}.${steps[i]}`);
    const types = element?.type ?? [];
    if (!element || element.contentReference || types.length !== 1) return undefined;
    leafType = typeName(types[0]!);
    if (!leafType) return undefined;
    if (i === steps.length - 1) break;
    if (leafType === 'BackboneElement' || leafType === 'Element') at = `${at}.${steps[i]}`;
    else if (complexTypes.has(leafType)) at = leafType;
    else return undefined; // into a primitive's children: not a plain path
  }
  if (!leafType) return undefined;
  if (targetType && leafType !== 'Reference') return undefined;
  return { type, steps, leafType, ...(targetType ? { targetType } : {}) };
}

function walk(path: Path, resource: unknown, out: TypedNode[]): void {
  let nodes: unknown[] = [resource];
  for (const name of path.steps) {
    const next: unknown[] = [];
    for (const node of nodes) {
      if (typeof node !== 'object' || node === null || Array.isArray(node)) continue;
      const value = (node as Record<string, unknown>)[name];
      if (value === undefined || value === null) continue;
      if (Array.isArray(value)) {
        for (const item of value) if (item !== undefined && item !== null) next.push(item);
      } else next.push(value);
    }
    nodes = next;
  }
  for (const data of nodes) {
    if (path.targetType && !refersTo(data, path.targetType)) continue;
    out.push({ data, fhirNodeDataType: `FHIR.${path.leafType}` });
  }
}

/** What extract.ts's refTypeIs answers for a Reference. */
function refersTo(data: unknown, targetType: string): boolean {
  const reference = (data as { reference?: unknown }).reference;
  return typeof reference === 'string' && parseReference(reference)?.targetType === targetType;
}

/**
 * An evaluator that walks the JSON for expressions that are plain element paths (most of R4's
 * search parameters), typed from the R4 definitions as FHIRPath types them; undefined for
 * anything else, which FHIRPath evaluates. The FHIRPath engine costs ~10 µs per expression
 * even for `AuditEvent.recorded`, and every write (each audited read's AuditEvent included)
 * evaluates a few dozen.
 */
export function simplePathEvaluator(
  expression: string,
): ((resource: unknown) => TypedNode[]) | undefined {
  const paths: Path[] = [];
  for (const part of expression.split(' | ')) {
    const match = PART.exec(part);
    const path = match && planPath(match[1]!, match[2]);
    if (!path) return undefined;
    paths.push(path);
  }
  return (resource) => {
    const out: TypedNode[] = [];
    const type = (resource as { resourceType?: unknown } | null)?.resourceType;
    for (const path of paths) if (path.type === type) walk(path, resource, out);
    return out;
  };
}
