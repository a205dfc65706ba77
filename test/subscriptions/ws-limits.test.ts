/**
 * Websocket sockets cost a replica: one that hasn't bound within SUBSCRIPTION_WS_BIND_TIMEOUT_MS
 * is closed, and one remote address holds at most SUBSCRIPTION_WS_MAX_PER_ADDRESS of them.
 */
import t from 'tap';
import { WebSocket } from 'ws';
import { subscriptionWorld, until } from './world.js';

function open(url: string) {
  const socket = new WebSocket(url);
  const state = { closed: false, code: 0, messages: [] as string[] };
  socket.on('message', (data) => state.messages.push(String(data)));
  socket.on('close', (code) => Object.assign(state, { closed: true, code }));
  const ready = new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  return { socket, state, ready };
}

const wsUrl = (base: string) => `${base.replace(/^http/, 'ws')}/$subscription-ws`;

t.test('a socket that does not bind in time is closed', async (t) => {
  const { base } = await subscriptionWorld(t, { wsBindTimeoutMs: 300 });
  const idle = open(wsUrl(base));
  t.teardown(() => idle.socket.close());
  await idle.ready;
  t.ok(await until(() => idle.state.closed, 5000), 'closed');
  t.equal(idle.state.code, 1008, 'policy violation');
});

t.test('one address holds at most SUBSCRIPTION_WS_MAX_PER_ADDRESS sockets', async (t) => {
  const { base } = await subscriptionWorld(t, { wsMaxPerAddress: 2 });
  const sockets = [open(wsUrl(base)), open(wsUrl(base))];
  t.teardown(() => sockets.forEach((s) => s.socket.close()));
  await Promise.all(sockets.map((s) => s.ready));
  const third = open(wsUrl(base));
  t.teardown(() => third.socket.close());
  await third.ready.catch(() => undefined);
  t.ok(await until(() => third.state.closed, 5000), 'the third is closed');
  t.equal(third.state.code, 1013, 'try again later');
  await new Promise((r) => setTimeout(r, 200));
  t.notOk(
    sockets.some((s) => s.state.closed),
    'the first two stay open',
  );
  sockets[0]!.socket.close();
  await until(() => sockets[0]!.state.closed);
  await new Promise((r) => setTimeout(r, 100));
  const again = open(wsUrl(base));
  t.teardown(() => again.socket.close());
  await again.ready;
  await new Promise((r) => setTimeout(r, 300));
  t.notOk(again.state.closed, 'room again once one closed');
});
