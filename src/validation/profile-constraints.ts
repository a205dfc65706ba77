import fhirpath from 'fhirpath';
import r4 from 'fhirpath/fhir-context/r4';
import type { ElementDefinitionConstraint } from 'fhir/r4.js';

/** A profile's FHIRPath constraint, compiled once. */
export interface CompiledConstraint {
  readonly key: string;
  readonly severity: 'error' | 'warning';
  readonly human: string;
  /** True when the constraint holds for `node` (the element's value, or the resource at the root). */
  holds(node: unknown): boolean;
}

const CORE_PREFIX = 'http://hl7.org/fhir/StructureDefinition/';

/**
 * Functions that need a server, a terminology service or an HTML parser: a constraint using one
 * is skipped here rather than guessed at.
 */
const UNSUPPORTED = /\b(resolve|conformsTo|memberOf|htmlChecks|htmlchecks)\s*\(/;

/**
 * Whether the profile layer checks this constraint: only constraints a profile adds. Those a
 * snapshot inherits from the base R4 definitions (source `http://hl7.org/fhir/StructureDefinition/…`)
 * belong to the invariants layer, which checks every resource against its base type.
 */
export function isProfileConstraint(constraint: ElementDefinitionConstraint): boolean {
  return !constraint.source?.startsWith(CORE_PREFIX);
}

/**
 * Compiles a constraint for elements at `elementPath` (e.g. `Observation.effective[x]`), or
 * returns undefined when it has no expression or uses a function we can't evaluate offline.
 * `cache` shares compiled expressions between profiles that copy the same constraint.
 */
export function compileConstraint(
  constraint: ElementDefinitionConstraint,
  elementPath: string,
  cache: Map<string, (node: unknown) => unknown[]>,
): CompiledConstraint | undefined {
  const expression = constraint.expression;
  if (!expression || UNSUPPORTED.test(expression)) return undefined;
  const base = elementPath.replace(/\[x\]$/, '');
  const cacheKey = `${base}\u0000${expression}`;
  let evaluate = cache.get(cacheKey);
  if (!evaluate) {
    const compiled = base.includes('.')
      ? fhirpath.compile({ base, expression }, r4)
      : fhirpath.compile(expression, r4);
    evaluate = (node: unknown) => compiled(node) as unknown[];
    cache.set(cacheKey, evaluate);
  }
  const run = evaluate;
  return {
    key: constraint.key,
    severity: constraint.severity === 'warning' ? 'warning' : 'error',
    human: constraint.human,
    holds(node) {
      try {
        const result = run(node);
        // An empty result is not a violation: the constraint had nothing to say about the node.
        return !(result.length === 1 && result[0] === false);
      } catch {
        // An expression fhirpath.js can't evaluate on this data is not the author's fault.
        return true;
      }
    },
  };
}
