/**
 * Where an export's resources come from, one page at a time and never more: keyset pages of
 * the store, under the policy of whoever started the job (the store puts it in its queries).
 *
 * - Without a patient list (system level, Patient level): a search of each type sorted by
 *   `_id`, with the type's `_typeFilter` and `_since` as conditions; the page's position is
 *   the search's own keyset position (on HealthLake, its next link), kept in the job row.
 * - With one (Group members, `patient`): each member's compartment, one type at a time
 *   (`FhirStore.compartment`, keyset by type and id); a `_typeFilter` is applied by asking the
 *   store which of the page's resources match it (`_id` plus the filter, one search). Stores
 *   without compartment pages (HealthLake) refuse such exports at kick-off (501).
 */
import { RESULT_PARAMETERS } from '../fhir/params.js';
import type { Resource } from 'fhir/r4.js';
import { FhirError } from '../fhir/errors.js';
import { parseSearch } from '../search/parse.js';
import type { PagePosition } from '../search/query.js';
import type { CompartmentPosition, FhirStore, RequestContext } from '../store/store.js';
import type { Job, JobPosition } from './jobs.js';

export interface Page {
  resources: Resource[];
  /** Where the next page of the job starts (possibly the next type or member). */
  next: JobPosition;
  /** No more pages of this type after this one. */
  typeDone: boolean;
}

/** Checks a `_typeFilter` query for `type` as the search will read it: 400 when it can't. */
export function checkTypeFilter(type: string, query: string, baseUrl: string): void {
  const params = new URLSearchParams(query);
  for (const name of params.keys()) {
    if (RESULT_PARAMETERS.has(name.split(':')[0]!)) {
      throw new FhirError(400, 'invalid', `_typeFilter for ${type} may not use ${name}`);
    }
  }
  parseSearch(type, params, { baseUrl, strict: true });
}

function searchParams(job: Job, type: string, count: number, extra?: [string, string]) {
  const params = new URLSearchParams(job.typeFilters[type] ?? '');
  if (job.since) params.append('_lastUpdated', `ge${job.since}`);
  if (extra) params.append(...extra);
  params.set('_sort', '_id');
  params.set('_count', String(count));
  params.set('_total', 'none');
  return params;
}

export async function readPage(
  store: FhirStore,
  ctx: RequestContext,
  job: Job,
  at: JobPosition,
  count: number,
  baseUrl: string,
): Promise<Page> {
  const typeIndex = at.type ?? 0;
  const type = job.types[typeIndex]!;
  const nextType: JobPosition = { type: typeIndex + 1 };
  if (!job.patients) {
    const query = parseSearch(type, searchParams(job, type, count), { baseUrl, strict: true });
    const result = await store.search(query, ctx, at.after as PagePosition | undefined);
    return result.next
      ? {
          resources: result.matches,
          next: { type: typeIndex, after: result.next },
          typeDone: false,
        }
      : { resources: result.matches, next: nextType, typeDone: true };
  }
  const compartment = store.compartment?.bind(store);
  if (!compartment) {
    throw new FhirError(501, 'not-supported', 'Group and patient exports need compartment pages');
  }
  const member = at.member ?? 0;
  const patient = job.patients[member];
  if (patient === undefined) return { resources: [], next: nextType, typeDone: true };
  const page = await compartment(
    {
      patient,
      types: [type],
      ...(job.since ? { since: job.since } : {}),
      count,
      referenced: [],
      ...(at.after ? { after: at.after as CompartmentPosition } : {}),
    },
    ctx,
  );
  let resources = page.members;
  if (job.typeFilters[type] && resources.length) {
    const ids = resources.map((resource) => resource.id!).join(',');
    const params = searchParams(job, type, resources.length, ['_id', ids]);
    const kept = await store.search(parseSearch(type, params, { baseUrl, strict: true }), ctx);
    const matched = new Set(kept.matches.map((resource) => resource.id));
    resources = resources.filter((resource) => matched.has(resource.id));
  }
  if (page.next) {
    return { resources, next: { type: typeIndex, member, after: page.next }, typeDone: false };
  }
  const lastMember = member + 1 >= job.patients.length;
  return lastMember
    ? { resources, next: nextType, typeDone: true }
    : { resources, next: { type: typeIndex, member: member + 1 }, typeDone: false };
}
