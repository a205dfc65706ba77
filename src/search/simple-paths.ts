import type { ElementDefinition, ElementDefinitionType } from 'fhir/r4.js';
import { r4StructureDefinitions } from '../fhir/r4-definitions.js';
import { parseReference } from './references.js';

/** What a compiled FHIRPath evaluation yields, in the shape extract.ts unwraps. */
export interface TypedNode {
  data: unknown;
  fhirNodeDataType: string;
}

/**
 * `Type.a.b` with, after any step, `.where(c.d = 'literal')`, optionally ending in
 * `.where(refTypeIs('X'))` (extract.ts's write-time form of `.where(resolve() is X)`), or several
 * such joined by ` | `: no other functions, casts or indexers.
 */
const HEAD = /^[A-Z][A-Za-z]*/;
const STEP =
  /^\.(?:([a-z][A-Za-z]*)(?![A-Za-z(])|where\(\s*([a-z][A-Za-z]*(?:\.[a-z][A-Za-z]*)*)\s*=\s*'([^'\\]*)'\s*\))/;
const REF_TYPE = /^\.where\(refTypeIs\('([A-Z][A-Za-z]*)'\)\)$/;

/** A string-valued primitive: FHIRPath's `=` on it against a string literal is plain equality. */
const STRING_TYPES = new Set([
  'string',
  'code',
  'uri',
  'url',
  'canonical',
  'id',
  'oid',
  'uuid',
  'markdown',
]);

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

/** A step: into an element, or keeping the nodes whose `path` is exactly `equals`. */
type Step = { name: string } | { path: string[]; equals: string };

interface Path {
  type: string;
  steps: Step[];
  /** The last element's one datatype, as FHIRPath names it. */
  leafType: string;
  /** Keep only References whose target is of this type. */
  targetType?: string;
}

/** `Type.a.where(b = 'x').c` → its type and steps, or undefined if it is anything else. */
function parsePart(part: string): { type: string; steps: Step[]; targetType?: string } | undefined {
  const type = HEAD.exec(part)?.[0];
  if (!type) return undefined;
  const steps: Step[] = [];
  let rest = part.slice(type.length);
  while (rest) {
    const refType = REF_TYPE.exec(rest);
    if (refType) return { type, steps, targetType: refType[1]! };
    const step = STEP.exec(rest);
    if (!step) return undefined;
    steps.push(step[1] ? { name: step[1] } : { path: step[2]!.split('.'), equals: step[3]! });
    rest = rest.slice(step[0].length);
  }
  return { type, steps };
}

/** Where a step from `context` (a type, or a backbone element's path) leads. */
function stepInto(
  context: string | undefined,
  name: string,
): { leafType: string; context: string | undefined } | undefined {
  if (!context) return undefined; // into a primitive's children: not a plain path
  const element = elementAt(`${context}.${name}`);
  const types = element?.type ?? [];
  if (!element || element.contentReference || types.length !== 1) return undefined;
  const leafType = typeName(types[0]!);
  if (!leafType) return undefined;
  const next =
    leafType === 'BackboneElement' || leafType === 'Element'
      ? `${context}.${name}`
      : complexTypes.has(leafType)
        ? leafType
        : undefined;
  return { leafType, context: next };
}

/**
 * A path whose every step is an element R4 defines with exactly one type (no choice, no
 * contentReference), so walking the JSON gives what FHIRPath gives, typed as the model types it.
 * A step into a complex datatype continues in that datatype's definition (`meta.lastUpdated`
 * is Meta.lastUpdated). A filter's path must end in a string-valued primitive.
 */
function planPath(part: string): Path | undefined {
  const parsed = parsePart(part);
  if (!parsed || !parsed.steps.some((step) => 'name' in step)) return undefined;
  const { type, steps, targetType } = parsed;
  let context: string | undefined = type;
  let leafType: string | undefined;
  for (const step of steps) {
    if ('name' in step) {
      const into = stepInto(context, step.name);
      if (!into) return undefined;
      ({ leafType, context } = into);
      continue;
    }
    let at = context;
    let filterLeaf: string | undefined;
    for (const name of step.path) {
      const into = stepInto(at, name);
      if (!into) return undefined;
      ({ leafType: filterLeaf, context: at } = into);
    }
    if (!filterLeaf || !STRING_TYPES.has(filterLeaf)) return undefined;
  }
  if (!leafType) return undefined;
  if (targetType && leafType !== 'Reference') return undefined;
  return { type, steps, leafType, ...(targetType ? { targetType } : {}) };
}

/** The non-null values at `name` of each object in `nodes`, arrays flattened. */
function children(nodes: unknown[], name: string): unknown[] {
  const next: unknown[] = [];
  for (const node of nodes) {
    if (typeof node !== 'object' || node === null || Array.isArray(node)) continue;
    const value = (node as Record<string, unknown>)[name];
    if (value === undefined || value === null) continue;
    if (Array.isArray(value)) {
      for (const item of value) if (item !== undefined && item !== null) next.push(item);
    } else next.push(value);
  }
  return next;
}

/** FHIRPath's `path = 'literal'` inside where(): true only for exactly one, equal, value. */
function matches(node: unknown, path: string[], equals: string): boolean {
  let values: unknown[] = [node];
  for (const name of path) values = children(values, name);
  return values.length === 1 && values[0] === equals;
}

function walk(path: Path, resource: unknown, out: TypedNode[]): void {
  let nodes: unknown[] = [resource];
  for (const step of path.steps) {
    nodes =
      'name' in step
        ? children(nodes, step.name)
        : nodes.filter((node) => matches(node, step.path, step.equals));
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
