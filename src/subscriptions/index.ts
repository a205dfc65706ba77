/**
 * Subscriptions, wired: the matching write hook (matcher.ts) goes into the store's hooks; this
 * plugin adds the Subscription routes, the websocket channel and the deliverer's timer.
 */
import type { FastifyInstance } from 'fastify';
import type { CapabilityStatementRestResource, Resource } from 'fhir/r4.js';
import type { Database } from '../db/database.js';
import type { FhirStore } from '../store/store.js';
import type { Workflow } from '../workflow/workflow.js';
import { SubscriptionDeliverer } from './deliverer.js';
import type { GrantClaims } from './owner.js';
import { subscriptionRoutes } from './routes.js';
import { SocketRegistry, websocketChannel } from './websocket.js';

export { subscriptionMatcher } from './matcher.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Whether writes are matched and Subscriptions served (not on HealthLake). */
    subscriptionsServed: boolean;
  }
}

/** Subscription in the CapabilityStatement: what routes.ts and websocket.ts serve. */
export const SUBSCRIPTION_CAPABILITY: CapabilityStatementRestResource = {
  type: 'Subscription',
  interaction: (['read', 'create', 'update', 'delete', 'search-type'] as const).map((code) => ({
    code,
  })),
  searchParam: [
    { name: '_id', type: 'token' },
    { name: 'status', type: 'token' },
  ],
  operation: [
    {
      name: 'get-ws-binding-token',
      definition:
        'http://hl7.org/fhir/uv/subscriptions-backport/OperationDefinition/backport-subscription-get-ws-binding-token',
    },
  ],
  documentation:
    'Owner-only. Channels rest-hook (signed: X-Subscription-Signature) and websocket (/$subscription-ws). Criteria: any search on a served type.',
};

export interface SubscriptionOptions {
  db: Database;
  store: FhirStore;
  /** Subscription writes and their AuditEvents in one transaction (routes.ts). */
  run: Workflow['run'];
  /** False when writes are not matched (HealthLake): Subscription writes answer 501. */
  enabled: boolean;
  clock: () => Date;
  reveal?: (resource: Resource, claims: GrantClaims) => Resource;
  /** Why an owner's grant was withdrawn, if it was (deliverer.ts). */
  grantWithdrawn?: (claims: GrantClaims) => Promise<string | undefined>;
}

export async function subscriptions(app: FastifyInstance, options: SubscriptionOptions) {
  const registry = new SocketRegistry();
  const deliverer = new SubscriptionDeliverer({
    sockets: registry,
    db: options.db,
    store: options.store,
    config: app.config.subscriptions,
    policy: { providerScope: app.config.providerAccess },
    clock: options.clock,
    log: app.log,
    baseUrl: app.config.baseUrl,
    ...(options.reveal ? { reveal: options.reveal } : {}),
    ...(options.grantWithdrawn ? { grantWithdrawn: options.grantWithdrawn } : {}),
  });
  if (options.enabled) deliverer.start();
  app.addHook('onClose', () => deliverer.close());
  await app.register(subscriptionRoutes, {
    db: options.db,
    store: options.store,
    run: options.run,
    enabled: options.enabled,
    clock: options.clock,
    wake: () => void deliverer.wake(),
  });
  if (options.enabled) {
    await app.register(websocketChannel, {
      db: options.db,
      key: await options.store.sharedSecret('subscription-ws'),
      registry,
      clock: options.clock,
      wake: () => void deliverer.wake(),
    });
  }
}
