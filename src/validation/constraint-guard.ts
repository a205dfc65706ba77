/**
 * Which children of its context a FHIRPath constraint can depend on, when that can be proven
 * from the expression's shape. If none of them is present on a node, the constraint's result
 * there is the same as on an empty node, so it is computed once instead of at every node.
 * And which children, when absent, make it hold outright (see ConstraintShape).
 *
 * Why: fhirpath.js costs 7–35 µs per evaluation, and most constraints are about elements a
 * given node doesn't have (dom-2…dom-5 are all about `contained`; tim-1…tim-10 about
 * Timing.repeat fields that are rarely all used). Skipping those halves the invariant layer.
 *
 * The proof is syntactic and conservative: the expression must be operands joined by
 * operators, each operand a literal, a parenthesised such expression, or a path that starts
 * at a child of the context (`name`, `contained`, `start`) followed by `.child`, `[index]`
 * and function calls. A path starting at an absent child is empty, and every function used
 * after it returns the same thing for an empty input whatever its arguments are, except the
 * few in ARGUMENT_SENSITIVE. Anything else (%resource, $this, a function on the context
 * itself like hasValue() or children(), type names) makes the expression unguarded.
 */

/** Functions whose result on an empty input depends on their arguments. */
const ARGUMENT_SENSITIVE = new Set([
  'union',
  'combine',
  'iif',
  'subsetOf',
  'supersetOf',
  'aggregate',
]);
const KEYWORD_OPERATORS = new Set([
  'and',
  'or',
  'xor',
  'implies',
  'is',
  'as',
  'in',
  'contains',
  'div',
  'mod',
]);

type Token =
  | { kind: 'literal' }
  | { kind: 'identifier'; name: string }
  | { kind: 'variable' }
  | { kind: 'operator'; text: string }
  | { kind: 'punctuation'; text: string };

export interface ConstraintShape {
  /** The context children the result can depend on; undefined when that can't be proven. */
  roots: string[] | undefined;
  /**
   * Children any one of which being absent makes the constraint hold: `x` in a top-level
   * `… or x.empty() or …` (also `x.exists().not()`, `x.hasValue().not()`), or in
   * `x.exists() implies …`. per-1's `start.hasValue().not() or end.hasValue().not() or …`
   * holds whenever start or end is missing.
   */
  holdsIfAbsent: string[];
}

/** What an expression's shape proves about when it needs evaluating. */
export function constraintShape(expression: string): ConstraintShape {
  const tokens = tokenize(expression);
  if (tokens === undefined) return { roots: undefined, holdsIfAbsent: [] };
  const roots = new Set<string>();
  return {
    roots: guardedExpression(tokens, roots) ? [...roots] : undefined,
    holdsIfAbsent: holdsIfAbsent(tokens),
  };
}

/** Whether any of `roots` is present on `node`, under any JSON name FHIR gives it. */
export function anyPresent(node: Record<string, unknown>, roots: readonly string[]): boolean {
  for (const raw in node) {
    if (node[raw] === undefined || node[raw] === null) continue;
    const key = raw.charCodeAt(0) === 95 ? raw.slice(1) : raw; // `_birthDate` is birthDate
    for (const root of roots) {
      if (!key.startsWith(root)) continue;
      if (key.length === root.length) return true;
      const c = key.charCodeAt(root.length); // `valueQuantity` is `value`
      if (c >= 65 && c <= 90) return true;
    }
  }
  return false;
}

/** The expression's top-level operands and the operators between them. */
function split(tokens: Token[]): { operands: Token[][]; operators: string[] } {
  const operands: Token[][] = [];
  const operators: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i <= tokens.length; i++) {
    const token = tokens[i];
    if (token === undefined || (depth === 0 && token.kind === 'operator')) {
      operands.push(tokens.slice(start, i));
      if (token?.kind === 'operator') operators.push(token.text);
      start = i + 1;
    } else if (token.kind === 'punctuation') {
      if ('([{'.includes(token.text)) depth++;
      else if (')]}'.includes(token.text)) depth--;
    }
  }
  return { operands, operators };
}

function guardedExpression(tokens: Token[], roots: Set<string>): boolean {
  const { operands } = split(tokens);
  return operands.every((operand) => guardedOperand(operand, roots));
}

const ABSENT_MEANS_TRUE = ['.empty()', '.exists().not()', '.hasValue().not()'];

function holdsIfAbsent(tokens: Token[]): string[] {
  const { operands, operators } = split(tokens);
  if (operators.length > 0 && operators.every((op) => op === 'or')) {
    return operands.flatMap((operand) => {
      const child = childThen(operand, ABSENT_MEANS_TRUE);
      return child === undefined ? [] : [child];
    });
  }
  if (operators.length === 1 && operators[0] === 'implies') {
    const child = childThen(operands[0]!, ['.exists()']);
    return child === undefined ? [] : [child];
  }
  return [];
}

/** `x` when the operand is exactly `x` followed by one of `suffixes` (written without spaces). */
function childThen(operand: Token[], suffixes: string[]): string | undefined {
  const first = operand[0];
  if (first?.kind !== 'identifier' || !isElementName(first)) return undefined;
  const rest = operand
    .slice(1)
    .map((token) =>
      token.kind === 'identifier' ? token.name : token.kind === 'punctuation' ? token.text : ' ',
    )
    .join('');
  return suffixes.includes(rest) ? first.name : undefined;
}

function guardedOperand(tokens: Token[], roots: Set<string>): boolean {
  const first = tokens[0];
  if (first === undefined) return false;
  if (first.kind === 'literal') return tokens.length === 1;
  if (isPunctuation(first, '(')) {
    const close = matching(tokens, 0);
    return close === tokens.length - 1 && guardedExpression(tokens.slice(1, close), roots);
  }
  if (first.kind !== 'identifier' || isCall(tokens, 0) || !isElementName(first)) return false;
  roots.add(first.name);
  for (let i = 1; i < tokens.length; i++) {
    const token = tokens[i]!;
    if (isPunctuation(token, '[')) {
      i = matching(tokens, i);
      if (i < 0) return false;
    } else if (isPunctuation(token, '.')) {
      const next = tokens[++i];
      if (next?.kind !== 'identifier') return false;
      if (isCall(tokens, i)) {
        if (ARGUMENT_SENSITIVE.has(next.name)) return false;
        i = matching(tokens, i + 1);
        if (i < 0) return false;
      }
    } else {
      return false;
    }
  }
  return true;
}

/** A child's name: lower camel case. `Patient` at the start would be a type filter. */
function isElementName(token: Token & { kind: 'identifier' }): boolean {
  const c = token.name.charCodeAt(0);
  return c >= 97 && c <= 122;
}

const isPunctuation = (token: Token | undefined, text: string) =>
  token?.kind === 'punctuation' && token.text === text;

const isCall = (tokens: Token[], i: number) => isPunctuation(tokens[i + 1], '(');

/** Index of the bracket closing the one at `open`, or -1. */
function matching(tokens: Token[], open: number): number {
  let depth = 0;
  for (let i = open; i < tokens.length; i++) {
    const token = tokens[i]!;
    if (token.kind !== 'punctuation') continue;
    if ('([{'.includes(token.text)) depth++;
    else if (')]}'.includes(token.text) && --depth === 0) return i;
  }
  return -1;
}

const IDENTIFIER = /[A-Za-z_][A-Za-z0-9_]*/y;
const NUMBER = /[0-9]+(\.[0-9]+)?/y;
const DATE_TIME = /@[0-9T:.+\-Z]*/y;
const OPERATOR = /<=|>=|!=|!~|[=~<>+\-*/&|]/y;

/** FHIRPath tokens, enough to see the expression's shape; undefined on anything unexpected. */
function tokenize(expression: string): Token[] | undefined {
  const tokens: Token[] = [];
  let i = 0;
  const at = (pattern: RegExp): string | undefined => {
    pattern.lastIndex = i;
    const match = pattern.exec(expression);
    return match ? match[0] : undefined;
  };
  while (i < expression.length) {
    const c = expression[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (expression.startsWith('//', i) || expression.startsWith('/*', i)) {
      return undefined; // comments are rare enough not to be worth reading around
    } else if (c === "'" || c === '`') {
      const end = closingQuote(expression, i);
      if (end < 0) return undefined;
      tokens.push(
        c === "'"
          ? { kind: 'literal' }
          : { kind: 'identifier', name: expression.slice(i + 1, end) },
      );
      i = end + 1;
    } else if (c === '%' || c === '$') {
      i++;
      const name = expression[i] === "'" || expression[i] === '`' ? undefined : at(IDENTIFIER);
      if (name === undefined) return undefined;
      tokens.push({ kind: 'variable' });
      i += name.length;
    } else if ('.()[]{},'.includes(c)) {
      tokens.push({ kind: 'punctuation', text: c });
      i++;
    } else {
      const word = at(IDENTIFIER);
      const number = word === undefined ? (at(NUMBER) ?? at(DATE_TIME)) : undefined;
      const operator = word === undefined && number === undefined ? at(OPERATOR) : undefined;
      if (word !== undefined) {
        const member = isPunctuation(tokens.at(-1), '.');
        const call = expression[i + word.length] === '(';
        if (!member && (word === 'true' || word === 'false')) tokens.push({ kind: 'literal' });
        else if (!member && !call && KEYWORD_OPERATORS.has(word))
          tokens.push({ kind: 'operator', text: word });
        else tokens.push({ kind: 'identifier', name: word });
        i += word.length;
      } else if (number !== undefined) {
        tokens.push({ kind: 'literal' });
        i += number.length;
      } else if (operator !== undefined) {
        tokens.push({ kind: 'operator', text: operator });
        i += operator.length;
      } else {
        return undefined;
      }
    }
  }
  return tokens;
}

function closingQuote(expression: string, open: number): number {
  const quote = expression[open];
  for (let i = open + 1; i < expression.length; i++) {
    if (expression[i] === '\\') i++;
    else if (expression[i] === quote) return i;
  }
  return -1;
}
