/**
 * The R4 base definitions reshaped for checking invariants: for each resource type and each
 * complex datatype, a tree keyed by JSON property name (`valueQuantity`, not `value[x]`) that
 * says which constraints hold at a node and what type its children are. The invariant walk
 * follows the instance through this tree, so it only ever visits what is present.
 *
 * Resource snapshots don't expand their datatypes (Encounter.period is just "a Period"), so a
 * datatype's own constraints (per-1 on Period, qty-3 on Quantity, tim-1… on Timing.repeat)
 * come from that datatype's definition, reached through the element's type.
 */
import { r4StructureDefinitions } from '../fhir/r4-definitions.js';
import type {
  ElementDefinition,
  ElementDefinitionConstraint,
  StructureDefinition,
} from 'fhir/r4.js';

export interface PlannedConstraint {
  readonly key: string;
  readonly severity: 'error' | 'warning';
  readonly human: string;
  readonly expression: string;
  /** What the expression is compiled against: the element's definition path, e.g. `Patient.contact`, or the datatype's name for a datatype's own rules. */
  readonly base: string;
}

export interface ElementPlan {
  /** Definition path (`Patient.contact`); a datatype's plan starts at its name (`Period`). */
  readonly path: string;
  /**
   * - `inline`: children defined right here (the type's root, BackboneElement, Element).
   * - `datatype`: children and own constraints come from the datatype `type`.
   * - `resource`: a nested resource (contained, Bundle.entry.resource): check it as its own type.
   * - `primitive`: no children.
   */
  readonly kind: 'inline' | 'datatype' | 'resource' | 'primitive';
  /** For `datatype`: the definition to use (`Period`, or `SimpleQuantity` where profiled). */
  readonly type?: string;
  readonly constraints: readonly PlannedConstraint[];
  readonly children: ReadonlyMap<string, ElementPlan>;
}

interface MutablePlan extends ElementPlan {
  constraints: PlannedConstraint[];
  children: Map<string, ElementPlan>;
}

/**
 * Checked without FHIRPath by the invariant walk (see invariants.ts): they hold at nearly
 * every node, and the engine's per-call cost there would dominate the whole validation.
 */
export const NATIVE_CONSTRAINTS = new Set(['ele-1', 'ext-1']);

const SYSTEM_TYPE = 'http://hl7.org/fhirpath/System.';

/** Plans for every R4 resource and datatype, built on first use of each type. */
export class ConstraintModel {
  private readonly definitions = new Map<string, StructureDefinition>();
  private readonly plans = new Map<string, ElementPlan | null>();

  constructor() {
    for (const sd of r4StructureDefinitions()) {
      if (!sd.snapshot) continue;
      // Base types by name; constrained types (SimpleQuantity, MoneyQuantity) by their own id,
      // which is how profiled element types refer to them below.
      this.definitions.set(sd.derivation === 'constraint' ? sd.id! : sd.type, sd);
    }
  }

  /** The plan rooted at a resource type or datatype, or undefined if R4 has no such type. */
  planFor(type: string): ElementPlan | undefined {
    let plan = this.plans.get(type);
    if (plan === undefined) {
      const sd = this.definitions.get(type);
      plan = sd ? buildPlan(sd, (name) => this.definitions.has(name)) : null;
      this.plans.set(type, plan);
    }
    return plan ?? undefined;
  }
}

function buildPlan(sd: StructureDefinition, known: (type: string) => boolean): ElementPlan {
  const elements = sd.snapshot!.element;
  const rootPath = elements[0]!.path;
  const root = newPlan(rootPath, 'inline', undefined, elements[0]!, rootPath);
  const byPath = new Map<string, MutablePlan>([[rootPath, root]]);
  const hasChildren = new Set(elements.map((e) => e.path.slice(0, e.path.lastIndexOf('.'))));

  for (const element of elements.slice(1)) {
    const dot = element.path.lastIndexOf('.');
    const parent = byPath.get(element.path.slice(0, dot));
    if (parent === undefined) continue;
    const name = element.path.slice(dot + 1);
    if (element.contentReference) {
      // Questionnaire.item.item → the Questionnaire.item plan again (a cycle the data ends).
      const target = byPath.get(
        element.contentReference.slice(element.contentReference.indexOf('#') + 1),
      );
      if (target) parent.children.set(name, target);
      continue;
    }
    const types = element.type ?? [];
    const choice = name.endsWith('[x]');
    for (const type of types) {
      const code = type.code;
      const key = choice ? name.slice(0, -3) + code[0]!.toUpperCase() + code.slice(1) : name;
      const base = element.path.replace(/\[x\]$/, '');
      let plan: MutablePlan;
      if (hasChildren.has(element.path)) {
        plan = newPlan(element.path, 'inline', undefined, element, base);
        byPath.set(element.path, plan);
      } else if (code === 'Resource') {
        plan = newPlan(element.path, 'resource', undefined, element, base);
      } else if (code.startsWith(SYSTEM_TYPE) || /^[a-z]/.test(code)) {
        plan = newPlan(element.path, 'primitive', undefined, element, base);
      } else {
        plan = newPlan(
          element.path,
          'datatype',
          profiledType(code, type.profile, known),
          element,
          base,
        );
      }
      parent.children.set(key, plan);
      if (!choice) break; // one JSON property, whatever the type list says
    }
  }
  return root;
}

function newPlan(
  path: string,
  kind: ElementPlan['kind'],
  type: string | undefined,
  element: ElementDefinition,
  base: string,
): MutablePlan {
  return { path, kind, type, constraints: plannedConstraints(element, base), children: new Map() };
}

function plannedConstraints(element: ElementDefinition, base: string): PlannedConstraint[] {
  return (element.constraint ?? [])
    .filter(
      (c): c is ElementDefinitionConstraint & { expression: string } =>
        Boolean(c.expression) && !NATIVE_CONSTRAINTS.has(c.key),
    )
    .map((c) => ({
      key: c.key,
      severity: c.severity === 'warning' ? 'warning' : 'error',
      human: c.human,
      expression: c.expression,
      base,
    }));
}

/** `Quantity` profiled as SimpleQuantity → the SimpleQuantity definition (it adds sqty-1). */
function profiledType(
  code: string,
  profiles: string[] | undefined,
  known: (type: string) => boolean,
): string {
  for (const url of profiles ?? []) {
    const id = url.slice(url.lastIndexOf('/') + 1);
    if (url === `http://hl7.org/fhir/StructureDefinition/${id}` && known(id)) return id;
  }
  return code;
}
