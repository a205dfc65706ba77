import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ValueSet, ValueSetExpansionContains } from 'fhir/r4.js';

/** The codes of one expanded ValueSet, for membership tests. */
export interface CodeSet {
  /** `system|code` pairs. */
  readonly pairs: ReadonlySet<string>;
  /** Bare codes, for `code` elements, which carry no system. */
  readonly codes: ReadonlySet<string>;
}

/** The ValueSets a profile's required bindings can be checked against, by canonical URL. */
export interface ValueSets {
  get(url: string): CodeSet | undefined;
}

/** Strips a `|version` suffix from a canonical URL. */
export function canonicalUrl(url: string): string {
  const bar = url.indexOf('|');
  return bar < 0 ? url : url.slice(0, bar);
}

/**
 * Reads the expanded ValueSets in `dir` (written by profiles/build-valuesets.mjs). A binding to
 * a ValueSet that isn't here (or a missing `dir`) is not checkable and is skipped.
 */
export function loadValueSets(dir: string): ValueSets {
  const sets = new Map<string, CodeSet>();
  const files = existsSync(dir) ? readdirSync(dir) : [];
  for (const file of files.filter((f) => f.endsWith('.json'))) {
    const parsed = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { resourceType?: string };
    if (parsed.resourceType !== 'ValueSet') continue;
    const vs = parsed as ValueSet;
    if (vs.url) sets.set(vs.url, codeSetOf(vs));
  }
  return { get: (url) => sets.get(canonicalUrl(url)) };
}

function codeSetOf(vs: ValueSet): CodeSet {
  const pairs = new Set<string>();
  const codes = new Set<string>();
  const add = (system: string | undefined, code: string | undefined): void => {
    if (!code) return;
    codes.add(code);
    if (system) pairs.add(`${system}|${code}`);
  };
  const walk = (items: ValueSetExpansionContains[] | undefined): void => {
    for (const item of items ?? []) {
      add(item.system, item.code);
      walk(item.contains);
    }
  };
  walk(vs.expansion?.contains);
  for (const include of vs.compose?.include ?? []) {
    for (const concept of include.concept ?? []) add(include.system, concept.code);
  }
  return { pairs, codes };
}

/** Whether a Coding-shaped value (system + code) is in the set; without a system, the code alone. */
export function hasCoding(set: CodeSet, system: unknown, code: unknown): boolean {
  if (typeof code !== 'string') return false;
  return typeof system === 'string' ? set.pairs.has(`${system}|${code}`) : set.codes.has(code);
}
