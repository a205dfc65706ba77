/**
 * The handshake can't be skipped: any change of a Subscription's channel type, endpoint or
 * headers puts it back to `requested`, and a rest-hook gets a new handshake before anything
 * else is sent to the new endpoint.
 */
import t from 'tap';
import { fhir } from '../helpers.js';
import { startReceiver } from './receiver.js';
import {
  auth,
  observation,
  patientToken,
  subscription,
  subscriptionWorld,
  until,
} from './world.js';

t.test('a websocket Subscription PUT as an active rest-hook needs the handshake', async (t) => {
  const { base } = await subscriptionWorld(t);
  const receiver = await startReceiver(t);
  receiver.answers.push(500, 500, 500, 500, 500, 500, 500, 500); // the endpoint never agrees
  const a = auth(patientToken('pa'));
  const ws = subscription('', 'Observation?');
  ws.channel = { type: 'websocket' };
  const created = await fhir(base, 'POST', 'Subscription', ws, a);
  t.equal(created.body.status, 'active', created.text);
  const id = created.body.id;
  const hook = { ...subscription(receiver.url, 'Observation?'), id, status: 'active' };
  const changed = await fhir(base, 'PUT', `Subscription/${id}`, hook, a);
  t.equal(changed.status, 200, changed.text);
  t.equal(changed.body.status, 'requested', 'a new channel starts requested');
  await fhir(base, 'POST', 'Observation', observation('pa'));
  const got = await receiver.waitFor(1);
  t.equal(got[0]!.headers['x-notification-event'], 'handshake', 'the handshake comes first');
  await new Promise((r) => setTimeout(r, 300));
  t.notOk(
    receiver.received.some((r) => r.headers['x-notification-event'] !== 'handshake'),
    'nothing but handshakes while the endpoint has not agreed',
  );
  const read = await fhir(base, 'GET', `Subscription/${id}`, undefined, a);
  t.equal(read.body.status, 'requested');
});

t.test('an active rest-hook moved to another endpoint or header shakes hands again', async (t) => {
  const { base } = await subscriptionWorld(t);
  const first = await startReceiver(t);
  const second = await startReceiver(t);
  const a = auth(patientToken('pa'));
  const created = await fhir(
    base,
    'POST',
    'Subscription',
    subscription(first.url, 'Observation?'),
    a,
  );
  const id = created.body.id;
  await first.waitFor(1);
  t.ok(
    await until(
      async () =>
        (await fhir(base, 'GET', `Subscription/${id}`, undefined, a)).body.status === 'active',
    ),
  );
  const moved = { ...created.body, extension: undefined, status: 'active' };
  moved.channel = { ...moved.channel, endpoint: second.url };
  const changed = await fhir(base, 'PUT', `Subscription/${id}`, moved, a);
  t.equal(changed.body.status, 'requested', changed.text);
  const got = await second.waitFor(1);
  t.equal(got[0]!.headers['x-notification-event'], 'handshake');
  t.ok(
    await until(
      async () =>
        (await fhir(base, 'GET', `Subscription/${id}`, undefined, a)).body.status === 'active',
    ),
  );
  const headed = { ...changed.body, status: 'active' };
  headed.channel = { ...headed.channel, header: ['Authorization: Bearer other'] };
  const again = await fhir(base, 'PUT', `Subscription/${id}`, headed, a);
  t.equal(again.body.status, 'requested', 'a header change too');
  const unchanged = await fhir(
    base,
    'PUT',
    `Subscription/${id}`,
    { ...again.body, reason: 'x' },
    a,
  );
  t.equal(unchanged.status, 200, unchanged.text);
});
