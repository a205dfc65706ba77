import type { SearchParamDef } from './registry.js';

export type Prefix = 'eq' | 'ne' | 'gt' | 'lt' | 'ge' | 'le' | 'sa' | 'eb' | 'ap';

/** One parsed value of a parameter; a parameter's values are ORed. */
export type SearchValue =
  | { kind: 'string'; text: string }
  | { kind: 'token'; system: string | null | undefined; code: string | undefined }
  | { kind: 'date'; prefix: Prefix; start: string; end: string }
  | {
      kind: 'number';
      prefix: Prefix;
      value: number;
      low: number;
      high: number;
      system?: string;
      unit?: string;
    }
  | { kind: 'reference'; type: string | undefined; id: string | undefined; url: string | undefined }
  | { kind: 'uri'; value: string };

/**
 * A condition on the resources of one type. Conditions of a query are ANDed. `chain` and
 * `has` reach through references; `missing` tests for the absence of any value.
 */
export type Condition =
  | { kind: 'values'; param: SearchParamDef; modifier: string | undefined; values: SearchValue[] }
  | { kind: 'missing'; param: SearchParamDef; missing: boolean }
  | { kind: 'chain'; param: SearchParamDef; links: { type: string; next: Condition }[] }
  | { kind: 'has'; sourceType: string; param: SearchParamDef; next: Condition };

/** The types a condition reaches into besides its own: a `_has` source, a chain's targets. */
export function reachedTypes(condition: Condition): string[] {
  if (condition.kind === 'has') return [condition.sourceType];
  if (condition.kind === 'chain') return condition.links.map((link) => link.type);
  return [];
}

export interface SortKey {
  /** `_id`, `_lastUpdated` or a parameter of the searched type. */
  code: string;
  param: SearchParamDef | undefined;
  descending: boolean;
}

export interface IncludeSpec {
  sourceType: string;
  /** A reference parameter of sourceType, or '*' for all of them. */
  code: string;
  targetType: string | undefined;
  iterate: boolean;
}

export type TotalMode = 'none' | 'estimate' | 'accurate';
export type SummaryMode = 'true' | 'false' | 'text' | 'data' | 'count';

/** A search of one type, with the parameters as applied (for the self link). */
export interface SearchQuery {
  type: string;
  conditions: Condition[];
  sort: SortKey[];
  count: number;
  /** Undefined when not asked for: then a total is given only when it costs nothing. */
  total: TotalMode | undefined;
  summary: SummaryMode | undefined;
  elements: string[] | undefined;
  include: IncludeSpec[];
  revinclude: IncludeSpec[];
  /** The name=value pairs that were understood, in request order, cursors left out. */
  applied: [string, string][];
}

/** Where a page starts: the sort values and id of the row before it, in the given direction. */
export interface PagePosition {
  keys: (string | null)[];
  id: string;
  direction: 'next' | 'previous';
}
