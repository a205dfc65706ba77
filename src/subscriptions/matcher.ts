/**
 * The write hook that turns committed changes into notifications. Inside every clinical
 * write's transaction (REST, bundles, operations alike), it finds the live Subscriptions on the
 * written type (one indexed query of the workflow table, never a cache: replicas share the
 * state) and runs each one's criteria, with `_id` set to the written resource, as the REST
 * API's search under the owner's grant, in that same transaction. (Delivery reads the
 * resource under the owner's grant again: grants change.) A match queues a notification row, which commits or
 * rolls back with the change.
 *
 * Deletions are matched just before the deletion is written, against the version being
 * deleted (after the delete there is nothing left to check it against at delivery); they are
 * delivered id-only.
 */
import { randomUUID } from 'node:crypto';
import type { Resource } from 'fhir/r4.js';
import type { PolicyOptions } from '../auth/policy.js';
import type { Sql } from '../db/database.js';
import { FhirError } from '../fhir/errors.js';
import type { FhirStore, RequestContext } from '../store/store.js';
import type { WriteHook } from '../store/write-hook.js';
import { criteriaSearch, parseCriteria } from './criteria.js';
import { ownerPolicy, type GrantClaims } from './owner.js';

interface Live {
  id: string;
  criteria: string;
  grant_claims: GrantClaims;
}

export interface MatcherOptions {
  baseUrl: () => string;
  policy: PolicyOptions;
}

async function matches(
  store: FhirStore,
  criteria: string,
  id: string,
  baseUrl: string,
  ctx: RequestContext,
): Promise<boolean> {
  try {
    const query = criteriaSearch(parseCriteria(criteria), baseUrl, undefined, id);
    const found = await store.search(query, ctx);
    return found.matches.some((resource) => resource.id === id);
  } catch (error) {
    // Criteria that no longer parse (a search parameter removed since) or a grant that no
    // longer reaches the type match nothing; anything else is the write's failure.
    if (error instanceof FhirError && error.statusCode < 500) return false;
    throw error;
  }
}

export function subscriptionMatcher(options: MatcherOptions): WriteHook {
  const live = (sql: Sql, type: string) =>
    sql.query<Live>(
      `SELECT id, resource->>'criteria' AS criteria, grant_claims FROM subscription
       WHERE criteria_type = $1 AND status IN ('requested', 'active') AND end_at > now()`,
      [type],
    );
  const queue = (
    sql: Sql,
    subscription: string,
    kind: string,
    type: string,
    id: string,
    version?: string,
  ) =>
    sql.query(
      `INSERT INTO subscription_notification
         (id, subscription_id, kind, resource_type, resource_id, version_id)
       VALUES ($1, $2, $3, $4, $5, $6)`,
      [randomUUID(), subscription, kind, type, id, version ?? null],
    );
  // The owner's grant, as the REST search would apply it: a chain or _has in the criteria reaches
  // only what the owner may search, so a match can't tell the owner anything its grant hides.
  const ownerCtx = (subscription: Live): RequestContext => ({
    requestId: 'subscriptions',
    access: ownerPolicy(subscription.grant_claims, options.policy),
  });
  return {
    async afterWrite(tx, type, id, resource, previous) {
      if (!resource) return; // deletions: beforeDelete
      const subscriptions = await live(tx.sql, type);
      for (const subscription of subscriptions) {
        if (
          !(await matches(
            tx.store,
            subscription.criteria,
            id,
            options.baseUrl(),
            ownerCtx(subscription),
          ))
        )
          continue;
        const kind = previous ? 'update' : 'create';
        await queue(tx.sql, subscription.id, kind, type, id, resource.meta?.versionId);
      }
    },
    async beforeDelete(tx, type, id, previous: Resource | undefined) {
      if (!previous) return;
      const subscriptions = await live(tx.sql, type);
      for (const subscription of subscriptions) {
        const ctx = ownerCtx(subscription);
        if (!(await matches(tx.store, subscription.criteria, id, options.baseUrl(), ctx))) continue;
        await queue(tx.sql, subscription.id, 'delete', type, id, previous.meta?.versionId);
      }
    },
  };
}
