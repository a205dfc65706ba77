import type { ElementDefinition } from 'fhir/r4.js';
import { r4StructureDefinitions } from '../fhir/r4-definitions.js';

/** What a compiled FHIRPath evaluation yields, in the shape extract.ts unwraps. */
export interface TypedNode {
  data: unknown;
  fhirNodeDataType: string;
}

/** `Type.a.b` or several joined by ` | `, nothing else: no functions, casts or indexers. */
const SIMPLE = /^[A-Z][A-Za-z]*(?:\.[a-z][A-Za-z]*)+(?: \| [A-Z][A-Za-z]*(?:\.[a-z][A-Za-z]*)+)*$/;

let elementsByPath: Map<string, ElementDefinition> | undefined;

/** Every element of R4's resources, by path (a resource's own and its backbone elements'). */
function elementAt(path: string): ElementDefinition | undefined {
  if (!elementsByPath) {
    elementsByPath = new Map();
    for (const sd of r4StructureDefinitions()) {
      if (sd.kind !== 'resource' || sd.derivation !== 'specialization') continue;
      for (const element of sd.snapshot?.element ?? []) elementsByPath.set(element.path, element);
    }
  }
  return elementsByPath.get(path);
}

interface Step {
  name: string;
}
interface Path {
  type: string;
  steps: Step[];
  /** The last element's one datatype, as FHIRPath names it. */
  leafType: string;
}

/**
 * A path whose every step is an element R4 defines with exactly one type (no choice, no
 * contentReference), so walking the JSON gives what FHIRPath gives, typed as the model types it.
 */
function planPath(expression: string): Path | undefined {
  const [type, ...names] = expression.split('.');
  if (!type || names.length === 0) return undefined;
  let leafType: string | undefined;
  for (let i = 1; i <= names.length; i++) {
    const element = elementAt([type, ...names.slice(0, i)].join('.'));
    const types = element?.type ?? [];
    if (!element || element.contentReference || types.length !== 1) return undefined;
    leafType = types[0]!.code;
    const last = i === names.length;
    // Walking into a datatype's children would need that datatype's definition: not a simple path.
    if (!last && leafType !== 'BackboneElement' && leafType !== 'Element') return undefined;
  }
  if (!leafType || leafType.startsWith('http://')) return undefined;
  return { type, steps: names.map((name) => ({ name })), leafType };
}

function walk(path: Path, resource: unknown, out: TypedNode[]): void {
  let nodes: unknown[] = [resource];
  for (const { name } of path.steps) {
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
  for (const data of nodes) out.push({ data, fhirNodeDataType: `FHIR.${path.leafType}` });
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
  if (!SIMPLE.test(expression)) return undefined;
  const paths: Path[] = [];
  for (const part of expression.split(' | ')) {
    const path = planPath(part);
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
