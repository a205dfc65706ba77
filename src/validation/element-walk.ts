import type { IssueCode } from '../fhir/errors.js';
import type { ElementNode, Slicing } from './element-tree.js';
import { deepEqual, isObject, matchesPattern } from './pattern.js';
import type { ValidationIssue } from './validator.js';
import { hasCoding } from './valuesets.js';
import type { ValueSets } from './valuesets.js';

/** What the walk needs besides the element tree; `issues` collects what it finds. */
export interface WalkContext {
  readonly profileUrl: string;
  readonly valueSets: ValueSets;
  /** The resource type a reference target profile stands for, or undefined when unknown. */
  targetType(profileUrl: string): string | undefined;
  /** The element tree of a type profile we ship (an extension definition), if any. */
  typeProfile(url: string): ElementNode | undefined;
  readonly issues: ValidationIssue[];
}

/** One value found in the instance for an element, with the FHIRPath that locates it. */
interface Occurrence {
  value: unknown;
  expression: string;
  /** For a choice element, the type picked by the property name (`valueQuantity` → Quantity). */
  type?: string;
  node: ElementNode;
}

const MAX_NESTED_PROFILES = 4;

/** Checks `value`, found at `expression`, against `node` and everything below it. */
export function checkValue(
  node: ElementNode,
  value: unknown,
  expression: string,
  ctx: WalkContext,
  type = node.types.length === 1 ? node.types[0]?.code : undefined,
  depth = 0,
): void {
  if (node.fixed && !deepEqual(value, node.fixed[1])) {
    report(
      ctx,
      'value',
      expression,
      `must be exactly ${JSON.stringify(node.fixed[1])} (${node.fixed[0]})`,
    );
  }
  if (node.pattern && !matchesPattern(value, node.pattern[1])) {
    report(
      ctx,
      'value',
      expression,
      `must match ${node.pattern[0]} ${JSON.stringify(node.pattern[1])}`,
    );
  }
  if (node.requiredValueSet && type)
    checkBinding(node.requiredValueSet, value, expression, type, ctx);
  if (type === 'Reference') checkReference(node, value, expression, ctx);
  for (const constraint of node.constraints) {
    if (!constraint.holds(value)) {
      ctx.issues.push({
        severity: constraint.severity,
        code: 'invariant',
        diagnostics: `${constraint.key}: ${constraint.human} (profile ${ctx.profileUrl})`,
        expression,
      });
    }
  }
  if (isObject(value)) {
    for (const child of node.children) checkChild(child, value, expression, ctx, depth);
  }
  const profile = node.types.find((t) => t.code === type)?.profile?.[0];
  const nested = profile && depth < MAX_NESTED_PROFILES ? ctx.typeProfile(profile) : undefined;
  if (nested && nested !== node) {
    checkValue(
      nested,
      value,
      expression,
      { ...ctx, profileUrl: profile as string },
      undefined,
      depth + 1,
    );
  }
}

function checkChild(
  child: ElementNode,
  parent: Record<string, unknown>,
  parentExpression: string,
  ctx: WalkContext,
  depth: number,
): void {
  const { occurrences, count } = child.choice
    ? choiceOccurrences(child, parent, parentExpression, ctx)
    : plainOccurrences(child, parent, parentExpression);
  const here = `${parentExpression}.${child.name}`;
  if (count < child.min) {
    report(ctx, 'required', here, `minimum required = ${child.min}, but only found ${count}`);
  }
  if (child.max === 0) {
    for (const o of occurrences) report(ctx, 'structure', o.expression, 'is not allowed (max 0)');
  } else if (count > child.max) {
    report(ctx, 'structure', here, `maximum allowed = ${child.max}, but found ${count}`);
  }
  if (child.slicing) {
    checkSlices(child, child.slicing, occurrences, here, ctx, depth);
  } else {
    for (const o of occurrences) checkValue(o.node, o.value, o.expression, ctx, o.type, depth);
  }
}

function plainOccurrences(
  child: ElementNode,
  parent: Record<string, unknown>,
  parentExpression: string,
): { occurrences: Occurrence[]; count: number } {
  const raw = parent[child.name];
  const occurrences: Occurrence[] = [];
  if (Array.isArray(raw)) {
    raw.forEach((value: unknown, i) => {
      if (value !== null && value !== undefined) {
        occurrences.push({
          value,
          expression: `${parentExpression}.${child.name}[${i}]`,
          node: child,
        });
      }
    });
  } else if (raw !== null && raw !== undefined) {
    occurrences.push({ value: raw, expression: `${parentExpression}.${child.name}`, node: child });
  }
  // a primitive may be present through its `_name` companion alone (e.g. a data-absent-reason)
  const companion = parent[`_${child.name}`];
  const companionCount = Array.isArray(companion)
    ? companion.filter((c) => c !== null && c !== undefined).length
    : companion
      ? 1
      : 0;
  return { occurrences, count: Math.max(occurrences.length, companionCount) };
}

function choiceOccurrences(
  child: ElementNode,
  parent: Record<string, unknown>,
  parentExpression: string,
  ctx: WalkContext,
): { occurrences: Occurrence[]; count: number } {
  const occurrences: Occurrence[] = [];
  let count = 0;
  for (const key of Object.keys(parent)) {
    const suffix = key.startsWith(child.name) ? key.slice(child.name.length) : '';
    if (!DATA_TYPES.has(suffix)) continue;
    count++;
    const expression = `${parentExpression}.${key}`;
    const type = child.types.find((t) => upperFirst(t.code) === suffix);
    if (!type) {
      const allowed = child.types.map((t) => t.code).join(', ');
      report(
        ctx,
        'structure',
        expression,
        `type ${suffix} is not allowed here; allowed: ${allowed}`,
      );
      continue;
    }
    const node = child.typeSlices.get(key) ?? child;
    occurrences.push({ value: parent[key], expression, type: type.code, node });
  }
  return { occurrences, count };
}

function checkSlices(
  element: ElementNode,
  slicing: Slicing,
  occurrences: readonly Occurrence[],
  here: string,
  ctx: WalkContext,
  depth: number,
): void {
  const counts = new Map<ElementNode, number>();
  for (const o of occurrences) {
    const slice = slicing.slices.find((s) => s.matches(o.value));
    if (slice) {
      counts.set(slice.node, (counts.get(slice.node) ?? 0) + 1);
      // a slice's definition is the sliced element's, narrowed: check the item against it alone
      checkValue(slice.node, o.value, o.expression, ctx, o.type, depth);
      continue;
    }
    if (slicing.closed && !slicing.partial) {
      report(
        ctx,
        'structure',
        o.expression,
        `matches none of the slices of ${element.path} (closed)`,
      );
    }
    checkValue(element, o.value, o.expression, ctx, o.type, depth);
  }
  for (const { node } of slicing.slices) {
    const n = counts.get(node) ?? 0;
    if (n < node.min) {
      report(
        ctx,
        'required',
        here,
        `slice '${node.sliceName}' requires at least ${node.min}, but found ${n}`,
      );
    } else if (n > node.max) {
      report(
        ctx,
        'structure',
        here,
        `slice '${node.sliceName}' allows at most ${node.max}, but found ${n}`,
      );
    }
  }
}

function checkBinding(
  valueSetUrl: string,
  value: unknown,
  expression: string,
  type: string,
  ctx: WalkContext,
): void {
  const set = ctx.valueSets.get(valueSetUrl);
  if (!set) return; // not checkable: see profiles/valuesets/not-checkable.json
  let shown: string | undefined;
  if (type === 'code' || type === 'string' || type === 'uri') {
    if (typeof value === 'string' && !set.codes.has(value)) shown = `'${value}'`;
  } else if (type === 'Coding') {
    if (isObject(value) && !hasCoding(set, value.system, value.code)) shown = codingText(value);
  } else if (type === 'CodeableConcept' && isObject(value)) {
    const codings = Array.isArray(value.coding) ? value.coding.filter(isObject) : [];
    if (!codings.some((c) => hasCoding(set, c.system, c.code))) {
      shown = codings.length
        ? codings.map(codingText).join(', ')
        : 'a CodeableConcept without a coding';
    }
  }
  if (shown)
    report(ctx, 'value', expression, `${shown} is not in the required ValueSet ${valueSetUrl}`);
}

function codingText(coding: Record<string, unknown>): string {
  return typeof coding.system === 'string'
    ? `'${coding.system}|${String(coding.code)}'`
    : `'${String(coding.code)}'`;
}

/** Relative literal references only: contained (#x), absolute and urn: references are skipped. */
const LITERAL_REFERENCE =
  /^([A-Z][A-Za-z]+)\/[A-Za-z0-9\-.]{1,64}(\/_history\/[A-Za-z0-9\-.]{1,64})?$/;

function checkReference(
  node: ElementNode,
  value: unknown,
  expression: string,
  ctx: WalkContext,
): void {
  if (!isObject(value) || typeof value.reference !== 'string') return;
  const type = LITERAL_REFERENCE.exec(value.reference)?.[1];
  const targets = node.types
    .filter((t) => t.code === 'Reference')
    .flatMap((t) => t.targetProfile ?? []);
  if (!type || targets.length === 0) return;
  const allowed = new Set<string>();
  for (const target of targets) {
    const targetType = ctx.targetType(target);
    if (!targetType || targetType === 'Resource') return; // can't tell: say nothing
    allowed.add(targetType);
  }
  if (!allowed.has(type)) {
    report(
      ctx,
      'invalid',
      expression,
      `refers to a ${type}, but only ${[...allowed].join(' | ')} may be referenced here`,
    );
  }
}

function report(ctx: WalkContext, code: IssueCode, expression: string, what: string): void {
  ctx.issues.push({
    severity: 'error',
    code,
    diagnostics: `${expression} ${what} (profile ${ctx.profileUrl})`,
    expression,
  });
}

function upperFirst(code: string): string {
  return code.charAt(0).toUpperCase() + code.slice(1);
}

/** JSON suffixes of R4 choice elements (`value` + `Quantity`), i.e. the data type names, capitalised. */
// prettier-ignore
const DATA_TYPES: ReadonlySet<string> = new Set(
  [
    'base64Binary', 'boolean', 'canonical', 'code', 'date', 'dateTime', 'decimal', 'id', 'instant',
    'integer', 'markdown', 'oid', 'positiveInt', 'string', 'time', 'unsignedInt', 'uri', 'url',
    'uuid', 'Address', 'Age', 'Annotation', 'Attachment', 'CodeableConcept', 'Coding',
    'ContactPoint', 'Count', 'Distance', 'Duration', 'HumanName', 'Identifier', 'Money', 'Period',
    'Quantity', 'Range', 'Ratio', 'Reference', 'SampledData', 'Signature', 'Timing',
    'ContactDetail', 'Contributor', 'DataRequirement', 'Expression', 'ParameterDefinition',
    'RelatedArtifact', 'TriggerDefinition', 'UsageContext', 'Dosage', 'Meta',
  ].map(upperFirst),
);
