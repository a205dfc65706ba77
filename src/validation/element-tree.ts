import type { ElementDefinition, ElementDefinitionType } from 'fhir/r4.js';
import { compileConstraint, isProfileConstraint } from './profile-constraints.js';
import type { CompiledConstraint } from './profile-constraints.js';
import { deepEqual, isObject, matchesPattern } from './pattern.js';
import { lastSegment } from './snapshot.js';
import { canonicalUrl, hasCoding } from './valuesets.js';
import type { ValueSets } from './valuesets.js';

/** One snapshot element, compiled for the walker: what it requires of the values found there. */
export interface ElementNode {
  readonly id: string;
  /** Definition path (`Patient.name.family`); the walker's expressions use instance paths. */
  readonly path: string;
  /** JSON property name, or for a choice element its stem (`value` for `value[x]`). */
  readonly name: string;
  readonly choice: boolean;
  readonly min: number;
  readonly max: number;
  readonly types: readonly ElementDefinitionType[];
  /** `[key, value]` of `fixed[x]` / `pattern[x]`, e.g. `['patternCoding', {...}]`. */
  readonly fixed?: readonly [string, unknown];
  readonly pattern?: readonly [string, unknown];
  /** Canonical URL (no version) of a REQUIRED binding's ValueSet. */
  readonly requiredValueSet?: string;
  readonly constraints: readonly CompiledConstraint[];
  readonly children: readonly ElementNode[];
  readonly slicing?: Slicing;
  /** For a choice element: slices constraining one type, keyed by JSON name (`valueQuantity`). */
  readonly typeSlices: ReadonlyMap<string, ElementNode>;
  readonly sliceName?: string;
}

export interface Slicing {
  readonly closed: boolean;
  /** Slices whose discriminators we can evaluate; the others are left out (see `partial`). */
  readonly slices: readonly Slice[];
  /** Some slice could not be told apart: `closed` is then not enforced. */
  readonly partial: boolean;
}

export interface Slice {
  readonly node: ElementNode;
  matches(item: unknown): boolean;
}

interface MutableNode extends ElementNode {
  children: ElementNode[];
  typeSlices: Map<string, ElementNode>;
  sliceNodes: MutableNode[];
  definition: ElementDefinition;
  slicing?: Slicing;
}

export interface TreeOptions {
  valueSets: ValueSets;
  /** Shared cache of compiled FHIRPath, across profiles. */
  expressionCache: Map<string, (node: unknown) => unknown[]>;
}

/** Turns a snapshot into a tree of element nodes rooted at the resource (or data type). */
export function buildElementTree(
  elements: readonly ElementDefinition[],
  options: TreeOptions,
): ElementNode {
  const byId = new Map<string, MutableNode>();
  let root: MutableNode | undefined;
  for (const definition of elements) {
    const id = definition.id ?? definition.path;
    const node = toNode(definition, id, options);
    byId.set(id, node);
    if (!root) {
      root = node;
      continue;
    }
    const last = lastSegment(id);
    const colon = last.indexOf(':');
    if (colon >= 0) {
      const sliced = byId.get(id.slice(0, id.length - last.length + colon));
      if (sliced) sliced.sliceNodes.push(node);
      continue;
    }
    byId.get(id.slice(0, id.length - last.length - 1))?.children.push(node);
  }
  if (!root) throw new Error('a snapshot without elements');
  for (const node of byId.values()) finishSlicing(node, options);
  return root;
}

function toNode(definition: ElementDefinition, id: string, options: TreeOptions): MutableNode {
  const last = lastSegment(definition.path);
  const choice = last.endsWith('[x]');
  const fixedKey = Object.keys(definition).find((k) => k.startsWith('fixed'));
  const patternKey = Object.keys(definition).find((k) => k.startsWith('pattern'));
  const record = definition as unknown as Record<string, unknown>;
  const binding = definition.binding;
  const constraints = (definition.constraint ?? [])
    .filter(isProfileConstraint)
    .map((c) => compileConstraint(c, definition.path, options.expressionCache))
    .filter((c): c is CompiledConstraint => c !== undefined);
  return {
    id,
    path: definition.path,
    name: choice ? last.slice(0, -3) : last,
    choice,
    min: definition.min ?? 0,
    max: definition.max === undefined || definition.max === '*' ? Infinity : Number(definition.max),
    types: definition.type ?? [],
    fixed: fixedKey ? [fixedKey, record[fixedKey]] : undefined,
    pattern: patternKey ? [patternKey, record[patternKey]] : undefined,
    requiredValueSet:
      binding?.strength === 'required' && binding.valueSet
        ? canonicalUrl(binding.valueSet)
        : undefined,
    constraints,
    children: [],
    typeSlices: new Map(),
    sliceNodes: [],
    sliceName: definition.sliceName,
    definition,
  };
}

function finishSlicing(node: MutableNode, options: TreeOptions): void {
  if (node.sliceNodes.length === 0) return;
  if (node.choice) {
    // `value[x]:valueQuantity`: a type slice, picked by the JSON property name
    for (const slice of node.sliceNodes) {
      if (slice.sliceName) node.typeSlices.set(slice.sliceName, slice);
    }
    return;
  }
  const discriminators = node.definition.slicing?.discriminator ?? [];
  const slices: Slice[] = [];
  let partial = false;
  for (const sliceNode of node.sliceNodes) {
    const tests = discriminators.map((d) => discriminatorTest(sliceNode, d.type, d.path, options));
    if (tests.length === 0 || tests.some((t) => t === undefined)) {
      partial = true;
      continue;
    }
    const checks = tests as ((item: unknown) => boolean)[];
    slices.push({ node: sliceNode, matches: (item) => checks.every((test) => test(item)) });
  }
  node.slicing = { closed: node.definition.slicing?.rules === 'closed', slices, partial };
}

/**
 * A test for one `value` or `pattern` discriminator of a slice, or undefined when the slice
 * can't be told apart with it (type/profile/exists discriminators, resolve(), a discriminating
 * element with neither a fixed/pattern value nor a checkable required binding).
 */
function discriminatorTest(
  slice: ElementNode,
  type: string,
  path: string,
  options: TreeOptions,
): ((item: unknown) => boolean) | undefined {
  if (type !== 'value' && type !== 'pattern') return undefined;
  const steps = path === '$this' ? [] : path.split('.');
  if (steps.some((s) => !/^[A-Za-z][A-Za-z0-9]*$/.test(s))) return undefined;
  let target: ElementNode | undefined = slice;
  for (const step of steps) target = target?.children.find((c) => c.name === step && !c.choice);
  const at = (item: unknown): unknown[] => valuesAt(item, steps);

  const expected = target?.fixed?.[1] ?? target?.pattern?.[1];
  if (expected !== undefined) {
    const exact = target?.fixed !== undefined;
    return (item) =>
      at(item).some((v) => (exact ? deepEqual(v, expected) : matchesPattern(v, expected)));
  }
  // an extension slice declares its url through the extension definition it is typed with
  const profile = slice.types[0]?.profile?.[0];
  if (path === 'url' && slice.types[0]?.code === 'Extension' && profile) {
    const url = canonicalUrl(profile);
    return (item) => at(item).some((v) => v === url);
  }
  const valueSet = target?.requiredValueSet
    ? options.valueSets.get(target.requiredValueSet)
    : undefined;
  if (target && valueSet) {
    return (item) =>
      at(item).some((v) =>
        typeof v === 'string'
          ? valueSet.codes.has(v)
          : isObject(v) &&
            (Array.isArray(v.coding)
              ? v.coding.some((c: unknown) => isObject(c) && hasCoding(valueSet, c.system, c.code))
              : hasCoding(valueSet, v.system, v.code)),
      );
  }
  return undefined;
}

/** The values reached from `item` by following property names (arrays flattened). */
export function valuesAt(item: unknown, steps: readonly string[]): unknown[] {
  let current: unknown[] = [item];
  for (const step of steps) {
    const next: unknown[] = [];
    for (const value of current) {
      if (!isObject(value)) continue;
      const child = value[step];
      if (Array.isArray(child)) next.push(...child);
      else if (child !== undefined) next.push(child);
    }
    current = next;
  }
  return current;
}
