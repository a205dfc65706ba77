import { FhirError } from '../../fhir/errors.js';
import type { Criteria } from '../store.js';

export interface MatchSql {
  text: string;
  params: unknown[];
  /** Same for equal criteria, whatever their order: the advisory-lock key. */
  lockKey: string;
}

const SUPPORTED = new Set(['_id', 'identifier']);

/** `system|value`, `|value` (no system), `value` (any system) or `system|` (any value). */
function identifierClause(token: string, param: (value: unknown) => string): string {
  const bar = token.indexOf('|');
  const conditions: string[] = [];
  if (bar < 0) {
    conditions.push(`e->>'value' = ${param(token)}`);
  } else {
    const system = token.slice(0, bar);
    const value = token.slice(bar + 1);
    conditions.push(system ? `e->>'system' = ${param(system)}` : `NOT (e ? 'system')`);
    if (value) conditions.push(`e->>'value' = ${param(value)}`);
  }
  return `EXISTS (SELECT 1 FROM jsonb_array_elements(
    CASE WHEN json_typeof(content->'identifier') = 'array'
      THEN (content->'identifier')::jsonb ELSE '[]'::jsonb END
  ) e WHERE ${conditions.join(' AND ')})`;
}

/**
 * The SQL that finds current resources matching If-None-Exist criteria. Until search lands only
 * `_id` and `identifier` are understood; anything else is refused rather than ignored, because
 * ignoring a criterion would widen the match.
 */
export function conditionalMatchSql(type: string, criteria: Criteria): MatchSql {
  const params: unknown[] = [type];
  const param = (value: unknown) => {
    params.push(value);
    return `$${params.length}`;
  };
  const clauses: string[] = [];
  const keys = [...criteria.keys()];
  if (keys.length === 0) throw new FhirError(400, 'invalid', 'If-None-Exist has no criteria');
  for (const [name, raw] of criteria) {
    if (!SUPPORTED.has(name)) {
      throw new FhirError(
        400,
        'not-supported',
        `If-None-Exist supports only _id and identifier, not "${name}"`,
      );
    }
    const values = raw.split(',').filter((value) => value !== '');
    if (values.length === 0) throw new FhirError(400, 'invalid', `If-None-Exist ${name} is empty`);
    const alternatives = values.map((value) =>
      name === '_id' ? `id = ${param(value)}` : identifierClause(value, param),
    );
    clauses.push(`(${alternatives.join(' OR ')})`);
  }
  const lockKey = `${type}?${[...criteria]
    .map(([k, v]) => `${k}=${v}`)
    .sort()
    .join('&')}`;
  return {
    text: `SELECT content FROM resource_current
           WHERE resource_type = $1 AND NOT deleted AND ${clauses.join(' AND ')} LIMIT 2`,
    params,
    lockKey,
  };
}
