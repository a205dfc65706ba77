/**
 * The websocket channel: a short-lived binding token from the owner, `bind {id} {token}`,
 * `bound {id}`, then `ping {id}` per notification; nobody binds a Subscription that isn't theirs.
 */
import t from 'tap';
import { WebSocket } from 'ws';
import { fhir } from '../helpers.js';
import { auth, observation, patientToken, subscription, subscriptionWorld } from './world.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const wsSubscription = (criteria: string) => {
  const body = subscription('', criteria);
  body.channel = { type: 'websocket' };
  return body;
};

async function connect(t: Parameters<typeof subscriptionWorld>[0], url: string) {
  const socket = new WebSocket(url);
  const messages: string[] = [];
  let closed = false;
  socket.on('message', (data) => messages.push(String(data)));
  socket.on('close', () => (closed = true));
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  t.teardown(() => socket.close());
  const next = async (count: number) => {
    for (let i = 0; i < 500 && messages.length < count && !closed; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    return messages;
  };
  return { socket, messages, next, isClosed: () => closed };
}

const tokenOf = (res: { body: Json }) =>
  res.body.parameter.find((p: Json) => p.name === 'token')?.valueString as string;

t.test('bind with a token, bound, then a ping per notification', async (t) => {
  const { base } = await subscriptionWorld(t);
  const a = auth(patientToken('pa'));
  const created = await fhir(base, 'POST', 'Subscription', wsSubscription('Observation?'), a);
  t.equal(created.status, 201, created.text);
  t.equal(created.body.status, 'active', 'no handshake for a websocket');
  const id = created.body.id;
  const binding = await fhir(base, 'GET', `Subscription/${id}/$get-ws-binding-token`, undefined, a);
  t.equal(binding.status, 200, binding.text);
  const url = binding.body.parameter.find((p: Json) => p.name === 'websocket-url').valueUrl;
  t.equal(url, `${base.replace('http', 'ws')}/$subscription-ws`);
  const ws = await connect(t, url);
  ws.socket.send(`bind ${id} ${tokenOf(binding)}`);
  t.same(await ws.next(1), [`bound ${id}`]);
  await fhir(base, 'POST', 'Observation', observation('pb')); // not the owner's: no ping
  await fhir(base, 'POST', 'Observation', observation('pa'));
  await fhir(base, 'POST', 'Observation', observation('pa'));
  t.same(await ws.next(3), [`bound ${id}`, `ping ${id}`, `ping ${id}`]);
  await new Promise((r) => setTimeout(r, 200));
  t.equal(ws.messages.length, 3, "no ping for the other patient's Observation");
});

t.test("nobody binds a Subscription that isn't theirs, or with an expired token", async (t) => {
  const { base, clock } = await subscriptionWorld(t);
  const a = auth(patientToken('pa'));
  const b = auth(patientToken('pb'));
  const mine = await fhir(base, 'POST', 'Subscription', wsSubscription('Observation?'), a);
  const theirs = await fhir(base, 'POST', 'Subscription', wsSubscription('Observation?'), b);
  const id = mine.body.id;
  t.equal(
    (await fhir(base, 'GET', `Subscription/${id}/$get-ws-binding-token`, undefined, b)).status,
    404,
    'no token for another owner',
  );
  const bToken = tokenOf(
    await fhir(base, 'GET', `Subscription/${theirs.body.id}/$get-ws-binding-token`, undefined, b),
  );
  const url = `${base.replace('http', 'ws')}/$subscription-ws`;
  const stolen = await connect(t, url);
  stolen.socket.send(`bind ${id} ${bToken}`);
  const [answer] = await stolen.next(1);
  t.match(answer, /^error /, "another owner's token does not bind it");
  const forged = await connect(t, url);
  forged.socket.send(`bind ${id} ${bToken.split('.')[0]}.AAAA`);
  t.match((await forged.next(1))[0], /^error /);
  const late = tokenOf(
    await fhir(base, 'GET', `Subscription/${id}/$get-ws-binding-token`, undefined, a),
  );
  clock.advance(61_000);
  const expired = await connect(t, url);
  expired.socket.send(`bind ${id} ${late}`);
  t.match((await expired.next(1))[0], /^error /, 'a token is good for 60 s');
  const garbage = await connect(t, url);
  garbage.socket.send('hello');
  t.match((await garbage.next(1))[0], /^error expected/);
  await fhir(base, 'POST', 'Observation', observation('pa'));
  await new Promise((r) => setTimeout(r, 200));
  for (const ws of [stolen, forged, expired]) {
    t.notOk(
      ws.messages.some((m) => m.startsWith('ping')),
      'no notification on a refused socket',
    );
  }
});
