/**
 * /fhir/Subscription: create, read, update, delete and search, for the owner only (another
 * caller gets 404, as for a resource outside its grant). The criteria must be a search the
 * owner may run; the signing secret is returned once, in the create response.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { Bundle, Subscription } from 'fhir/r4.js';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { buildAuditEvent } from '../audit/event.js';
import { policyOf } from '../auth/authorize.js';
import type { Database, Sql } from '../db/database.js';
import { auditFailure, auditInput, type AuditTarget } from '../exchange/audited.js';
import type { InteractionResult } from '../exchange/exchange.js';
import { exchangeOf } from '../exchange/request.js';
import { FhirError } from '../fhir/errors.js';
import { ID_PATTERN } from '../fhir/resource-types.js';
import type { FhirStore } from '../store/store.js';
import type { Workflow } from '../workflow/workflow.js';
import { grantClaimsOf, ownerOf } from './owner.js';
import {
  deleteSubscription,
  dropPending,
  findOwned,
  insertSubscription,
  listOwned,
  queueHandshake,
  served,
  updateSubscription,
  type Status,
} from './repository.js';
import { acceptSubscription, endOf, nextStatus, SECRET_EXTENSION } from './resource.js';

export interface SubscriptionRouteOptions {
  db: Database;
  /** Where the AuditEvents of Subscription reads and refusals go. */
  store: FhirStore;
  /**
   * One transaction over the subscription tables and the store (they share the database
   * whenever Subscriptions are served): a write and its AuditEvent commit together.
   */
  run: Workflow['run'];
  /** Whether writes are matched (the hook is wired); if not, Subscriptions are refused (501). */
  enabled: boolean;
  clock: () => Date;
  /** Wakes the deliverer after a write queued a handshake. */
  wake: () => void;
}

/** What a notification goes to: a change of any of it needs a new handshake. */
const channelKey = (resource: Subscription) =>
  JSON.stringify([
    resource.channel?.type,
    resource.channel?.endpoint ?? null,
    resource.channel?.header ?? [],
  ]);

const notFound = (id: string) => new FhirError(404, 'not-found', `Subscription/${id} is not known`);

function checkId(id: string) {
  if (!ID_PATTERN.test(id)) throw notFound(id.slice(0, 64));
}

export async function subscriptionRoutes(app: FastifyInstance, options: SubscriptionRouteOptions) {
  const { db } = options;
  const rules = app.config.subscriptions;
  const caller = (request: FastifyRequest) => {
    const policy = policyOf(request, { providerScope: app.config.providerAccess });
    return { policy, owner: ownerOf(request.user), claims: grantClaimsOf(request.user) };
  };
  const refuseUnlessEnabled = () => {
    if (!options.enabled) {
      throw new FhirError(
        501,
        'not-supported',
        'Subscriptions need the Postgres store: writes to this store are not matched here',
      );
    }
  };
  /**
   * Runs a Subscription interaction and leaves its AuditEvent, as REST interactions do: who,
   * from where, which Subscription (and a search's parameter names) — never the criteria, the
   * endpoint or the headers. Failures and refusals are recorded too. Fail-closed: a write's
   * AuditEvent commits in the write's own transaction (no audit, no write), and a read's is
   * durable before anything is sent.
   */
  const audit = async <T>(
    request: FastifyRequest,
    target: AuditTarget,
    work: (sql: Sql) => Promise<T>,
    result: (value: T) => Omit<InteractionResult, 'status'>,
  ): Promise<T> => {
    const ex = { ...exchangeOf(app, request), store: options.store };
    const success = (value: T) =>
      buildAuditEvent(auditInput(ex, target, 'success', { status: 200, ...result(value) }));
    try {
      if (target.interaction === 'read' || target.interaction === 'search') {
        const value = await work(db);
        await options.store.audit(success(value));
        return value;
      }
      return await options.run(async ({ sql, store }) => {
        const value = await work(sql);
        await store.audit(success(value));
        return value;
      });
    } catch (error) {
      await auditFailure(ex, target, error);
      throw error;
    }
  };
  /** Only the reference goes into the audit trail. */
  const bare = (id: string): Subscription => ({ resourceType: 'Subscription', id }) as Subscription;
  const stamp = (resource: Subscription, id: string, version: number): Subscription => ({
    ...resource,
    id,
    meta: { versionId: String(version), lastUpdated: options.clock().toISOString() },
  });

  /** The write shared by create and update-as-create: returns the stored row's resource. */
  async function write(sql: Sql, request: FastifyRequest, id: string | undefined) {
    refuseUnlessEnabled();
    const { policy, owner, claims } = caller(request);
    const accepted = acceptSubscription(request.body, {
      validator: app.validator,
      policy,
      baseUrl: app.config.baseUrl,
      rules,
      ...(id !== undefined ? { id } : {}),
    });
    {
      const current = id === undefined ? undefined : await findOwned(sql, owner, id, true);
      if (id !== undefined && !current) {
        // Someone else's id, or a new one: an update never creates (ids are the server's).
        throw notFound(id);
      }
      if (!current) {
        // One owner's creates are counted one at a time: no two of them both see room.
        await sql.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`subscription ${owner}`]);
        const [held] = await sql.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM subscription WHERE owner = $1',
          [owner],
        );
        if (held!.n >= rules.maxPerOwner) {
          throw new FhirError(
            429,
            'too-costly',
            `An owner may hold ${rules.maxPerOwner} Subscriptions; delete one first`,
          );
        }
      }
      const now = options.clock();
      const end = endOf(accepted.resource.end, now, rules.maxLifetimeMs);
      // A new channel type, endpoint or header is a new receiver: it must agree (handshake).
      const rechannelled =
        current !== undefined && channelKey(current.resource) !== channelKey(accepted.resource);
      const asked = nextStatus(accepted.requested, current?.status);
      const status: Status = rechannelled && asked !== 'off' ? 'requested' : asked;
      const wsActive = accepted.channel === 'websocket' && status === 'requested';
      const ended = end.getTime() <= now.getTime();
      const finalStatus: Status = ended ? 'off' : wsActive ? 'active' : status;
      const newId = id ?? randomUUID();
      const version = (current?.version_id ?? 0) + 1;
      const resource = stamp({ ...accepted.resource, end: end.toISOString() }, newId, version);
      const row = {
        id: newId,
        version,
        owner,
        resource,
        status: finalStatus,
        criteriaType: accepted.criteria.type,
        channel: accepted.channel,
        claims,
        end,
      };
      let secret: string | undefined;
      if (current) await updateSubscription(sql, row);
      else {
        secret = randomBytes(32).toString('base64url');
        await insertSubscription(sql, { ...row, secret });
      }
      const fresh =
        finalStatus === 'requested' && (current?.status !== 'requested' || rechannelled);
      if (finalStatus === 'off' || fresh) {
        await dropPending(sql, newId);
      }
      if (fresh) {
        await queueHandshake(sql, newId, randomUUID());
      }
      const out: Subscription = { ...resource, status: finalStatus };
      if (secret) {
        out.extension = [...(out.extension ?? []), { url: SECRET_EXTENSION, valueString: secret }];
      }
      return { resource: out, created: !current };
    }
  }

  const send = (reply: import('fastify').FastifyReply, status: number, resource: Subscription) => {
    reply.header('etag', `W/"${resource.meta!.versionId}"`);
    reply.header('last-modified', new Date(resource.meta!.lastUpdated!).toUTCString());
    if (status === 201) {
      reply.header(
        'location',
        `${app.config.baseUrl}/Subscription/${resource.id}/_history/${resource.meta!.versionId}`,
      );
    }
    return reply.code(status).send(resource);
  };

  app.post('/Subscription', async (request, reply) => {
    const { resource } = await audit(
      request,
      { interaction: 'create', type: 'Subscription' },
      (sql) => write(sql, request, undefined),
      (done) => ({ resource: bare(done.resource.id!) }),
    );
    options.wake();
    return send(reply, 201, resource);
  });

  app.put<{ Params: { id: string } }>('/Subscription/:id', async (request, reply) => {
    checkId(request.params.id);
    const id = request.params.id;
    const { resource } = await audit(
      request,
      { interaction: 'update', type: 'Subscription', id },
      (sql) => write(sql, request, id),
      () => ({ resource: bare(id) }),
    );
    options.wake();
    return send(reply, 200, resource);
  });

  app.get<{ Params: { id: string } }>('/Subscription/:id', async (request, reply) => {
    const id = request.params.id;
    const row = await audit(
      request,
      { interaction: 'read', type: 'Subscription', id: id.slice(0, 64) },
      async (sql) => {
        checkId(id);
        const found = await findOwned(sql, caller(request).owner, id);
        if (!found) throw notFound(id);
        return found;
      },
      () => ({ resource: bare(id) }),
    );
    return send(reply, 200, served(row, options.clock()));
  });

  app.delete<{ Params: { id: string } }>('/Subscription/:id', async (request, reply) => {
    const id = request.params.id;
    await audit(
      request,
      { interaction: 'delete', type: 'Subscription', id: id.slice(0, 64) },
      async (sql) => {
        checkId(id);
        if (!(await deleteSubscription(sql, caller(request).owner, id))) throw notFound(id);
      },
      () => ({ deleted: bare(id) }),
    );
    return reply.code(204).send();
  });

  const search = (request: FastifyRequest, params: URLSearchParams) =>
    audit(
      request,
      { interaction: 'search', type: 'Subscription', query: params },
      (sql) => searchOwned(sql, request, params),
      (bundle) => ({
        resource: {
          ...bundle,
          entry: (bundle.entry ?? []).map((e) => ({ resource: bare(e.resource!.id!) })),
        },
      }),
    );
  const searchOwned = async (sql: Sql, request: FastifyRequest, params: URLSearchParams) => {
    const { owner } = caller(request);
    for (const name of params.keys()) {
      if (!['status', '_id', '_count', '_format', '_pretty'].includes(name)) {
        throw new FhirError(
          400,
          'not-supported',
          `Subscription is searched by status and _id only`,
        );
      }
    }
    const split = (name: string) =>
      params.has(name) ? params.getAll(name).flatMap((v) => v.split(',')) : undefined;
    const rows = await listOwned(sql, owner, split('status'), split('_id'));
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'searchset',
      total: rows.length,
      link: [{ relation: 'self', url: `${app.config.baseUrl}/Subscription?${params}` }],
      entry: rows.map((row) => ({
        fullUrl: `${app.config.baseUrl}/Subscription/${row.id}`,
        resource: served(row, options.clock()),
        search: { mode: 'match' },
      })),
    };
    return bundle;
  };
  app.get('/Subscription', (request) => {
    const at = request.url.indexOf('?');
    return search(request, new URLSearchParams(at < 0 ? '' : request.url.slice(at + 1)));
  });
  app.post('/Subscription/_search', (request) => {
    const body = typeof request.body === 'string' ? request.body : '';
    return search(request, new URLSearchParams(body));
  });
}
