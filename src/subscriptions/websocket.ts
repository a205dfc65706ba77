/**
 * The websocket channel (R4 3.1.0.4 and the R4B backport's binding token): the owner asks
 * `GET /fhir/Subscription/{id}/$get-ws-binding-token` for a token valid 60 s, connects to
 * `/fhir/$subscription-ws` and sends `bind {id} {token}`; the server answers `bound {id}`, and
 * `ping {id}` for each notification after that. A token names one Subscription and its owner,
 * and is signed with a secret every replica shares (Postgres), so any replica can check it.
 * Notifications of a bound Subscription are delivered by the replica holding its socket
 * (deliverer.ts claims only those it has bound).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import websocket from '@fastify/websocket';
import type { FastifyInstance } from 'fastify';
import type { Parameters } from 'fhir/r4.js';
import type { WebSocket } from 'ws';
import type { Database } from '../db/database.js';
import { FhirError } from '../fhir/errors.js';
import type { SocketChannel } from './deliverer.js';
import { ownerOf } from './owner.js';
import { findOwned } from './repository.js';

const TOKEN_SECONDS = 60;

/** The sockets bound on this replica. */
export class SocketRegistry implements SocketChannel {
  private readonly sockets = new Map<string, Set<WebSocket>>();

  bind(subscription: string, socket: WebSocket) {
    let set = this.sockets.get(subscription);
    if (!set) this.sockets.set(subscription, (set = new Set()));
    set.add(socket);
    socket.once('close', () => {
      set.delete(socket);
      if (!set.size) this.sockets.delete(subscription);
    });
  }

  bound(): string[] {
    return [...this.sockets.keys()];
  }

  notify(subscription: string): boolean {
    const set = this.sockets.get(subscription);
    if (!set?.size) return false;
    for (const socket of set) socket.send(`ping ${subscription}`);
    return true;
  }

  closeAll() {
    for (const set of this.sockets.values()) for (const socket of set) socket.close(1001);
  }
}

function sign(key: Buffer, text: string) {
  return createHmac('sha256', key).update(text).digest('base64url');
}

export interface WebsocketOptions {
  db: Database;
  key: Buffer;
  registry: SocketRegistry;
  clock: () => Date;
  /** A socket was bound: deliver what waits for it. */
  wake: () => void;
}

export async function websocketChannel(app: FastifyInstance, options: WebsocketOptions) {
  const { db, key, registry, clock } = options;
  await app.register(websocket, { options: { maxPayload: 4096 } });
  app.addHook('onClose', async () => registry.closeAll());

  app.get<{ Params: { id: string } }>(
    '/Subscription/:id/$get-ws-binding-token',
    async (request) => {
      const owner = ownerOf(request.user);
      const row = await findOwned(db, owner, request.params.id);
      if (!row)
        throw new FhirError(404, 'not-found', `Subscription/${request.params.id} is not known`);
      if (row.channel !== 'websocket') {
        throw new FhirError(400, 'invalid', 'This Subscription does not use the websocket channel');
      }
      const expires = Math.floor(clock().getTime() / 1000) + TOKEN_SECONDS;
      const body = `${row.id}.${expires}`;
      const token = `${Buffer.from(body).toString('base64url')}.${sign(key, `${owner}\n${body}`)}`;
      const ws = app.config.baseUrl.replace(/^http/, 'ws');
      const result: Parameters = {
        resourceType: 'Parameters',
        parameter: [
          { name: 'token', valueString: token },
          { name: 'expiration', valueDateTime: new Date(expires * 1000).toISOString() },
          { name: 'subscription', valueString: row.id },
          { name: 'websocket-url', valueUrl: `${ws}/$subscription-ws` },
        ],
      };
      return result;
    },
  );

  /** The Subscription a token binds, if it is valid, unexpired and still its owner's. */
  async function check(id: string, token: string): Promise<boolean> {
    const [encoded = '', mac = ''] = token.split('.');
    const body = Buffer.from(encoded, 'base64url').toString();
    const [named, expires] = body.split('.');
    if (named !== id || !expires || Number(expires) * 1000 < clock().getTime()) return false;
    const rows = await db.query<{ owner: string; channel: string; status: string }>(
      'SELECT owner, channel, status FROM subscription WHERE id = $1',
      [id],
    );
    const row = rows[0];
    if (!row || row.channel !== 'websocket' || row.status !== 'active') return false;
    const expected = Buffer.from(sign(key, `${row.owner}\n${body}`));
    const given = Buffer.from(mac);
    return expected.length === given.length && timingSafeEqual(expected, given);
  }

  // Public as HTTP (a browser can't send a bearer header on a websocket); the binding token
  // sent in the first message is what authenticates.
  // Sockets held open cost a replica: a cap per replica and per remote address, and one that
  // hasn't bound in time is closed (1008), so idle sockets can't pile up.
  const { wsBindTimeoutMs, wsMaxConnections, wsMaxPerAddress } = app.config.subscriptions;
  const perAddress = new Map<string, number>();
  let open = 0;
  app.get('/$subscription-ws', { websocket: true, config: { public: true } }, (socket, request) => {
    const address = request.ip;
    const fromAddress = perAddress.get(address) ?? 0;
    if (open >= wsMaxConnections || fromAddress >= wsMaxPerAddress) {
      socket.send('error too many connections');
      socket.close(1013);
      return;
    }
    open++;
    perAddress.set(address, fromAddress + 1);
    let bound = false;
    const deadline = setTimeout(() => {
      if (!bound) {
        socket.send('error not bound in time');
        socket.close(1008);
      }
    }, wsBindTimeoutMs);
    socket.once('close', () => {
      clearTimeout(deadline);
      open--;
      const left = (perAddress.get(address) ?? 1) - 1;
      if (left > 0) perAddress.set(address, left);
      else perAddress.delete(address);
    });
    let busy = false;
    socket.on('message', (data) => {
      if (busy) return;
      const text = String(data).trim();
      const match = /^bind ([A-Za-z0-9\-.]{1,64}) ([A-Za-z0-9_\-.]{1,400})$/.exec(text);
      if (!match) {
        socket.send('error expected: bind {id} {token}');
        return;
      }
      busy = true;
      check(match[1]!, match[2]!).then(
        (ok) => {
          busy = false;
          if (!ok) {
            socket.send(`error ${match[1]} not bound: unknown, expired or not yours`);
            socket.close(1008);
            return;
          }
          bound = true;
          clearTimeout(deadline);
          registry.bind(match[1]!, socket);
          socket.send(`bound ${match[1]}`);
          options.wake();
        },
        () => {
          socket.send('error try again');
          socket.close(1011);
        },
      );
    });
  });
}
