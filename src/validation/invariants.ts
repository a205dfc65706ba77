/**
 * Layer 3 of the validator: the FHIRPath invariants (`constraint`) of the R4 base definitions.
 *
 *   createInvariantChecker(): (resource: Resource) => ValidationIssue[]
 *     Every invariant of the resource's type, of the datatypes it uses (per-1 on each Period,
 *     qty-3 on each Quantity, …) and of its contained / Bundle-entry resources, each
 *     evaluated at every node where it applies; issues point at that node
 *     (`Patient.contact[0]`, `Encounter.period`, `Patient` for resource-level rules).
 *
 *   checkConstraints(resource, constraints: readonly ElementConstraint[]): ValidationIssue[]
 *     The same machinery for constraints a caller brings, e.g. a profile's own: each one is
 *     evaluated at every node found at its element `path` (`Patient.telecom`,
 *     `Observation.value[x]`, or the type name for the resource itself). Slices are not
 *     resolved: a constraint on a slice must be given with its slice's items already picked,
 *     or on the sliced element if it is to hold for every item.
 *
 * Both compile each expression once per (base path, expression), shared by every checker in
 * the process (compiled expressions are pure functions, like the compiled schema). The walk
 * visits each node once, and skips evaluations the node's shape makes pointless (a rule
 * about `contained` on a resource without any; see constraint-guard.ts): fhirpath.js costs
 * 2–35 µs per call, which would otherwise dominate.
 *
 * Not evaluated:
 * - expressions calling resolve() (ctm-1), conformsTo(), memberOf() or htmlChecks()
 *   (txt-1, txt-2): they need other resources, a terminology service, or an XHTML parser the
 *   structure layer doesn't run; skipReason() says which applies.
 * - any expression fhirpath.js fails to compile (none in R4 as of fhirpath 5.2; a test
 *   guards it). An expression that throws while being evaluated counts as holding; across
 *   all R4 examples that is eld-16, eld-19 and eld-20 (StructureDefinition regexes that are
 *   invalid in JavaScript's unicode mode) and ras-1 (a fhirpath.js decimal bug), none on a
 *   telehealth type.
 * - ele-1 ("all elements must have a value or children") and ext-1 ("an extension has a
 *   value or extensions, not both") through FHIRPath: they hold at nearly every node, so
 *   they are checked natively during the walk, with the same keys and messages.
 */
import fhirpath from 'fhirpath';
import r4 from 'fhirpath/fhir-context/r4';
import type { Resource } from 'fhir/r4.js';
import { anyPresent, constraintShape } from './constraint-guard.js';
import { ConstraintModel, type ElementPlan, type PlannedConstraint } from './constraint-plan.js';
import { elementName, nodesAtPath } from './fhirpath-paths.js';
import { tooDeeplyNested } from './structure.js';
import type { ValidationIssue } from './validator.js';

/** A constraint to check at every node found at `path`. */
export interface ElementConstraint {
  /** ElementDefinition path, without slice names: `Patient`, `Patient.name`, `Observation.value[x]`. */
  path: string;
  key: string;
  severity: 'error' | 'warning' | string;
  human: string;
  expression: string;
}

type Json = Record<string, unknown>;
/** FHIRPath's %resource (the resource holding the node) and %rootResource (its container). */
interface Env {
  resource: Json;
  rootResource: Json;
}
type Evaluate = (node: unknown, env: Env) => unknown[];

const UNSUPPORTED: [RegExp, string][] = [
  [/\bresolve\s*\(/, 'resolve() needs the referenced resource'],
  [/\bconformsTo\s*\(/, 'conformsTo() needs the profile and a full validation'],
  [/\bmemberOf\s*\(/, 'memberOf() needs a terminology service'],
  [/\bhtml[cC]hecks\s*\(/, 'htmlChecks() needs an XHTML parser'],
];

/** Why an expression is not evaluated here, or undefined when it is. */
export function skipReason(expression: string): string | undefined {
  return UNSUPPORTED.find(([pattern]) => pattern.test(expression))?.[1];
}

const OPTIONS = {
  // dom-3 and ref-1 call trace(); fhirpath.js would print every call to stdout.
  traceFn: () => {},
};

interface Compiled {
  evaluate: Evaluate;
  /** The context children the result depends on, when provable (see constraint-guard.ts). */
  roots: readonly string[] | undefined;
  /** The verdict when none of `roots` is present, computed on first need. */
  violatesWhenAbsent?: boolean;
  /** Each: a child whose absence makes the constraint hold (as a one-name list for anyPresent). */
  holdsIfAbsent: (readonly string[])[];
  /** False when the constraint can't fail on this node (see PRECONDITIONS). */
  mayFail?: (node: Json) => boolean;
}

const REF_1 =
  "reference.startsWith('#').not() or (reference.substring(1).trace('url') in %rootResource.contained.id.trace('ids'))";

/**
 * ref-1 runs on every Reference and can only fail for a local reference (`#id`): for any
 * other its first operand is true, and without a reference both operands are empty. Matched
 * on the exact R4 text, so a changed definition is simply evaluated.
 */
const PRECONDITIONS = new Map<string, (node: Json) => boolean>([
  [REF_1, (node) => typeof node.reference === 'string' && node.reference.startsWith('#')],
]);
const EMPTY: Json = {};
const EMPTY_ENV: Env = { resource: EMPTY, rootResource: EMPTY };

/** Compiled once per (base, expression); null when skipped or when it doesn't compile. */
const compiledByExpression = new Map<string, Compiled | null>();
/** The same, looked up by the plan's constraint object: no key string built per evaluation. */
const compiledByConstraint = new WeakMap<PlannedConstraint, Compiled | null>();

function compile(base: string, expression: string): Compiled | null {
  const key = `${base}\u0000${expression}`;
  let compiled = compiledByExpression.get(key);
  if (compiled === undefined) {
    compiled = null;
    if (skipReason(expression) === undefined) {
      try {
        const fn = fhirpath.compile({ base, expression: asFilter(expression) }, r4, OPTIONS);
        const shape = constraintShape(expression);
        compiled = {
          evaluate: (node, env) => fn(node, env as unknown as Record<string, unknown>) as unknown[],
          roots: shape.roots,
          holdsIfAbsent: shape.holdsIfAbsent.map((name) => [name]),
          mayFail: PRECONDITIONS.get(expression),
        };
      } catch {
        compiled = null;
      }
    }
    compiledByExpression.set(key, compiled);
  }
  return compiled;
}

/**
 * dom-3 (every resource) says `%resource.descendants().as(canonical)`, meaning "the canonicals
 * among them": written before FHIRPath made as() an error on more than one item, which
 * fhirpath.js does, so dom-3 threw on every resource with a contained resource and never
 * fired. ofType() is that filter, and gives the same answer as as() wherever as() works.
 */
const asFilter = (expression: string) => expression.replace(/\.as\(/g, '.ofType(');

function compiledFor(constraint: PlannedConstraint): Compiled | null {
  let compiled = compiledByConstraint.get(constraint);
  if (compiled === undefined) {
    compiled = compile(constraint.base, constraint.expression);
    compiledByConstraint.set(constraint, compiled);
  }
  return compiled;
}

/** Whether the expression compiles (or is deliberately skipped); for the test that guards it. */
export function compiles(base: string, expression: string): boolean {
  return compile(base, expression) !== null || skipReason(expression) !== undefined;
}

function violates(constraint: PlannedConstraint, node: unknown, env: Env): boolean {
  const compiled = compiledFor(constraint);
  if (compiled === null) return false;
  if (isObject(node)) {
    if (compiled.mayFail !== undefined && !compiled.mayFail(node)) return false;
    for (const child of compiled.holdsIfAbsent) if (!anyPresent(node, child)) return false;
    if (compiled.roots !== undefined && !anyPresent(node, compiled.roots)) {
      compiled.violatesWhenAbsent ??= run(compiled.evaluate, EMPTY, EMPTY_ENV);
      return compiled.violatesWhenAbsent;
    }
  }
  return run(compiled.evaluate, node, env);
}

function run(evaluate: Evaluate, node: unknown, env: Env): boolean {
  try {
    const result = evaluate(node, env);
    // Only a definite false is a violation; empty means the rule had nothing to say here.
    return result.length === 1 && result[0] === false;
  } catch {
    // A runtime failure on odd data (e.g. a string where a date belongs, which the
    // structure layer reports) is not a second problem.
    return false;
  }
}

function constraintIssue(
  c: Pick<PlannedConstraint, 'key' | 'severity' | 'human'>,
  expression: string,
): ValidationIssue {
  return {
    severity: c.severity,
    code: 'invariant',
    diagnostics: `Constraint failed: ${c.key}: '${c.human}'`,
    expression,
  };
}

const ELE_1 = {
  key: 'ele-1',
  severity: 'error',
  human: 'All FHIR elements must have a @value or children',
} as const;
const EXT_1 = {
  key: 'ext-1',
  severity: 'error',
  human: 'Must have either extensions or value[x], not both',
} as const;

export function createInvariantChecker(): (resource: Resource) => ValidationIssue[] {
  const model = new ConstraintModel();
  const primitiveSibling = model.planFor('Element');

  const checkResource = (
    resource: Json,
    expression: string,
    rootResource: Json,
    issues: ValidationIssue[],
  ) => {
    const type = resource.resourceType;
    const plan = typeof type === 'string' ? model.planFor(type) : undefined;
    if (plan === undefined) return; // unknown type: the structure layer says so
    const env: Env = { resource, rootResource };
    check(plan.constraints, resource, expression, env, issues);
    descend(resource, plan.children, expression, env, issues);
  };

  const descend = (
    node: Json,
    children: ReadonlyMap<string, ElementPlan>,
    expression: string,
    env: Env,
    issues: ValidationIssue[],
  ) => {
    for (const key in node) {
      const value = node[key];
      if (value === null || value === undefined || key === 'resourceType') continue;
      let child = children.get(key);
      // `_birthDate`: the id and extensions of a primitive, walked for their extensions only.
      const sibling = child === undefined && key.charCodeAt(0) === 95;
      if (sibling) child = primitiveSibling;
      if (child === undefined) continue; // unknown element: the structure layer says so
      const at = `${expression}.${elementName(key)}`;
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) {
          if (value[i] !== null && value[i] !== undefined)
            visit(value[i], child, `${at}[${i}]`, env, issues, sibling);
        }
      } else {
        visit(value, child, at, env, issues, sibling);
      }
    }
  };

  const visit = (
    value: unknown,
    plan: ElementPlan,
    expression: string,
    env: Env,
    issues: ValidationIssue[],
    sibling: boolean,
  ) => {
    if (plan.kind === 'primitive') {
      check(plan.constraints, value, expression, env, issues);
      return;
    }
    if (!isObject(value)) return; // wrong shape: the structure layer says so
    if (plan.kind === 'resource') {
      // A contained resource's references (#id) are resolved against its container.
      const root = plan.path.endsWith('.contained') ? env.rootResource : value;
      checkResource(value, expression, root, issues);
      return;
    }
    if (!sibling && !hasChildren(value)) issues.push(constraintIssue(ELE_1, expression));
    check(plan.constraints, value, expression, env, issues);
    let children = plan.children;
    if (plan.kind === 'datatype') {
      const datatype = model.planFor(plan.type!);
      if (datatype === undefined) return;
      check(datatype.constraints, value, expression, env, issues);
      children = datatype.children;
      if (plan.type === 'Extension' && hasExtensions(value) === hasValue(value)) {
        issues.push(constraintIssue(EXT_1, expression));
      }
    }
    descend(value, children, expression, env, issues);
  };

  return (resource) => {
    const issues: ValidationIssue[] = [];
    if (!isObject(resource)) return issues;
    const type = String(resource.resourceType);
    try {
      checkResource(resource, type, resource, issues);
    } catch (error) {
      if (error instanceof RangeError) return [tooDeeplyNested(type)];
      throw error;
    }
    return issues;
  };
}

function check(
  constraints: readonly PlannedConstraint[],
  node: unknown,
  expression: string,
  env: Env,
  issues: ValidationIssue[],
) {
  for (const constraint of constraints) {
    if (violates(constraint, node, env)) issues.push(constraintIssue(constraint, expression));
  }
}

/**
 * Checks `constraints` against `resource`, each at every node at its path. Constraints whose
 * expression is skipped (see skipReason) or doesn't compile are not reported.
 */
export function checkConstraints(
  resource: Resource,
  constraints: readonly ElementConstraint[],
): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const root = resource as unknown as Json;
  const env: Env = { resource: root, rootResource: root };
  const nodesByPath = new Map<string, ReturnType<typeof nodesAtPath>>();
  for (const c of constraints) {
    let nodes = nodesByPath.get(c.path);
    if (nodes === undefined) {
      nodes = nodesAtPath(root, c.path);
      nodesByPath.set(c.path, nodes);
    }
    const planned: PlannedConstraint = {
      key: c.key,
      severity: c.severity === 'warning' ? 'warning' : 'error',
      human: c.human,
      expression: c.expression,
      base: c.path.replace(/\[x\]$/, ''),
    };
    for (const { node, expression } of nodes) {
      if (violates(planned, node, env)) issues.push(constraintIssue(planned, expression));
    }
  }
  return issues;
}

function isObject(value: unknown): value is Json {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** ele-1 for an object: some child besides `id` (an empty array is no child). */
function hasChildren(node: Json): boolean {
  for (const key in node) {
    if (key === 'id') continue;
    const value = node[key];
    if (value !== null && value !== undefined && !(Array.isArray(value) && value.length === 0))
      return true;
  }
  return false;
}

function hasExtensions(node: Json): boolean {
  return Array.isArray(node.extension) && node.extension.length > 0;
}

/**
 * `value[x]` present under any of its JSON names (valueString, valueQuantity, …). A primitive
 * value that has only extensions (`_valueString`) exists too, as FHIRPath sees it.
 */
function hasValue(node: Json): boolean {
  for (const key in node) {
    const start = key.charCodeAt(0) === 95 ? 6 : 5; // `_value…`
    if (key.length > start && key.startsWith('value', start - 5) && node[key] != null) {
      const c = key.charCodeAt(start);
      if (c >= 65 && c <= 90) return true;
    }
  }
  return false;
}
