/**
 * rest-hook delivery to a real receiver on loopback: the handshake, each kind of change, the
 * signature, the headers, id-only payloads, order under retries, timeouts, the retry window
 * (on a moved clock) and `off`.
 */
import t from 'tap';
import { fhir } from '../helpers.js';
import { startReceiver, verify } from './receiver.js';
import { observation, secretOf, subscription, subscriptionWorld, until } from './world.js';

t.test('the handshake makes a requested Subscription active', async (t) => {
  const { base } = await subscriptionWorld(t);
  const receiver = await startReceiver(t);
  receiver.answers.push(503); // the first handshake fails, the retry succeeds
  const created = await fhir(
    base,
    'POST',
    'Subscription',
    subscription(receiver.url, 'Observation?'),
  );
  t.equal(created.status, 201, created.text);
  t.equal(created.body.status, 'requested');
  const secret = secretOf(created.body);
  t.ok(secret && secret.length >= 40, 'the signing secret, once');
  const read = await fhir(base, 'GET', `Subscription/${created.body.id}`);
  t.notOk(secretOf(read.body), 'never again after the create');
  t.equal(read.body.status, 'requested', 'still requested after a failed handshake');
  await t.resolves(
    until(
      async () =>
        (await fhir(base, 'GET', `Subscription/${created.body.id}`)).body.status === 'active',
    ),
  );
  t.equal((await fhir(base, 'GET', `Subscription/${created.body.id}`)).body.status, 'active');
  const [first, second] = receiver.received;
  t.equal(first!.headers['x-notification-event'], 'handshake');
  t.equal(
    second!.headers['x-notification-id'],
    first!.headers['x-notification-id'],
    'same id on retry',
  );
  t.ok(verify(secret, second!), 'signed');
});

t.test('create, update and delete are each delivered, signed, in order', async (t) => {
  const { base } = await subscriptionWorld(t);
  const receiver = await startReceiver(t);
  const created = await fhir(
    base,
    'POST',
    'Subscription',
    subscription(receiver.url, 'Observation?code=http://loinc.org|8867-4', {
      header: ['Authorization: Bearer receiver-token-123'],
    }),
  );
  t.equal(created.status, 201, created.text);
  const secret = secretOf(created.body);
  const obs = await fhir(base, 'POST', 'Observation', observation('pa'));
  await fhir(base, 'POST', 'Observation', observation('pa', '9999-9')); // not matching
  await fhir(base, 'PUT', `Observation/${obs.body.id}`, { ...obs.body, status: 'amended' });
  await fhir(base, 'DELETE', `Observation/${obs.body.id}`);
  const got = await receiver.waitFor(4);
  t.equal(got.length, 4, 'handshake and three changes');
  t.same(
    got.map((r) => r.headers['x-notification-event']),
    ['handshake', 'create', 'update', 'delete'],
  );
  for (const r of got) {
    t.ok(verify(secret, r), 'signature of the body under the secret');
    t.equal(r.headers.authorization, 'Bearer receiver-token-123', 'channel.header sent');
    t.equal(r.headers['x-subscription-id'], created.body.id);
  }
  const [, create, update, del] = got;
  t.equal(create!.headers['content-type'], 'application/fhir+json');
  t.equal(JSON.parse(create!.body).id, obs.body.id);
  t.equal(JSON.parse(create!.body).meta.versionId, '1');
  t.equal(JSON.parse(update!.body).status, 'amended', 'the version written');
  t.equal(update!.headers['x-notification-resource'], `Observation/${obs.body.id}/_history/2`);
  t.equal(del!.body, '', 'a deletion is id-only');
  t.equal(del!.headers['x-notification-resource'], `Observation/${obs.body.id}/_history/2`);
  t.equal(new Set(got.map((r) => r.headers['x-notification-id'])).size, 4, 'one id each');
  await new Promise((r) => setTimeout(r, 150));
  t.equal(receiver.received.length, 4, 'the non-matching Observation is not delivered');
});

t.test('id-only: no payload, no body', async (t) => {
  const { base } = await subscriptionWorld(t);
  const receiver = await startReceiver(t);
  const body = subscription(receiver.url, 'Patient?');
  delete body.channel.payload;
  const created = await fhir(base, 'POST', 'Subscription', body);
  t.equal(created.status, 201, created.text);
  await fhir(base, 'PUT', 'Patient/pa', { resourceType: 'Patient', id: 'pa', gender: 'female' });
  const [, event] = await receiver.waitFor(2);
  t.equal(event!.headers['x-notification-event'], 'update');
  t.equal(event!.body, '');
  t.equal(event!.headers['content-type'], undefined);
  t.ok(verify(secretOf(created.body), event!));
});

t.test('$book, a transaction bundle and a conditional write are matched too', async (t) => {
  const { base } = await subscriptionWorld(t);
  const receiver = await startReceiver(t);
  await fhir(base, 'PUT', 'Practitioner/dr1', {
    resourceType: 'Practitioner',
    id: 'dr1',
    name: [{ family: 'Who' }],
  });
  const created = await fhir(
    base,
    'POST',
    'Subscription',
    subscription(receiver.url, 'Appointment?status=booked&practitioner=dr1'),
  );
  t.equal(created.status, 201, created.text);
  const start = new Date(Date.UTC(2031, 0, 1, 9)).toISOString();
  const end = new Date(Date.UTC(2031, 0, 1, 9, 30)).toISOString();
  const booked = await fhir(base, 'POST', 'Appointment/$book', {
    resourceType: 'Parameters',
    parameter: [
      { name: 'patient', valueReference: { reference: 'Patient/pa' } },
      { name: 'practitioner', valueReference: { reference: 'Practitioner/dr1' } },
      { name: 'start', valueDateTime: start },
      { name: 'end', valueDateTime: end },
    ],
  });
  t.equal(booked.status, 201, booked.text);
  const bundle = await fhir(base, 'POST', '', {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      {
        request: { method: 'POST', url: 'Appointment' },
        resource: {
          resourceType: 'Appointment',
          status: 'booked',
          start: new Date(Date.UTC(2031, 0, 2, 9)).toISOString(),
          end: new Date(Date.UTC(2031, 0, 2, 9, 30)).toISOString(),
          participant: [
            { actor: { reference: 'Patient/pb' }, status: 'accepted' },
            { actor: { reference: 'Practitioner/dr1' }, status: 'accepted' },
          ],
        },
      },
    ],
  });
  t.equal(bundle.status, 200, bundle.text);
  // Under load a handshake or a notification can time out and be sent again (at least once):
  // the notifications are told by their event and counted once per notification id.
  const notifications = () => {
    const seen = new Map<string, string>();
    for (const r of receiver.received) {
      const id = r.headers['x-notification-id'] as string;
      if (r.headers['x-notification-event'] !== 'handshake' && !seen.has(id)) {
        seen.set(id, JSON.parse(r.body).id);
      }
    }
    return [...seen.values()];
  };
  t.ok(await until(() => notifications().length >= 2), 'both delivered');
  t.same(notifications(), [booked.body.id, bundle.body.entry[0].resource.id]);
});

t.test('a failing receiver (5xx, timeout) is retried, and order is kept', async (t) => {
  const { base, clock } = await subscriptionWorld(t, { timeoutMs: 300 });
  const receiver = await startReceiver(t);
  const created = await fhir(
    base,
    'POST',
    'Subscription',
    subscription(receiver.url, 'Observation?'),
  );
  await receiver.waitFor(1);
  await until(
    async () =>
      (await fhir(base, 'GET', `Subscription/${created.body.id}`)).body.status === 'active',
  );
  receiver.answers.push(500, 'hang');
  const first = await fhir(base, 'POST', 'Observation', observation('pa', '1000-1'));
  const second = await fhir(base, 'POST', 'Observation', observation('pa', '2000-2'));
  await receiver.waitFor(2);
  // Backoff: the next attempt waits for the clock; move it on instead of waiting.
  for (let i = 0; i < 40 && receiver.received.length < 5; i++) {
    clock.advance(60_000 / 40);
    await new Promise((r) => setTimeout(r, 60));
  }
  const got = await receiver.waitFor(5);
  const ids = got.slice(1).map((r) => JSON.parse(r.body).id);
  t.same(
    ids.slice(0, 4),
    [first.body.id, first.body.id, first.body.id, second.body.id],
    '500, then a timeout, then delivered; the second only after the first',
  );
  t.same(new Set(got.slice(1, 4).map((r) => r.headers['x-notification-id'])).size, 1, 'same id');
  t.equal((await fhir(base, 'GET', `Subscription/${created.body.id}`)).body.status, 'active');
});

t.test('after the retry window the Subscription goes to error, with the reason', async (t) => {
  const { base, clock } = await subscriptionWorld(t, { retryWindowMs: 30_000 });
  const receiver = await startReceiver(t);
  const created = await fhir(
    base,
    'POST',
    'Subscription',
    subscription(receiver.url, 'Observation?'),
  );
  await receiver.waitFor(1);
  await until(
    async () =>
      (await fhir(base, 'GET', `Subscription/${created.body.id}`)).body.status === 'active',
  );
  receiver.answers.push(...Array(100).fill(503));
  await fhir(base, 'POST', 'Observation', observation('pa'));
  await receiver.waitFor(2);
  const read = () => fhir(base, 'GET', `Subscription/${created.body.id}`);
  t.equal((await read()).body.status, 'active', 'still retrying inside the window');
  const errored = await until(async () => {
    clock.advance(5_000);
    return (await read()).body.status === 'error';
  });
  t.ok(errored);
  const body = (await read()).body;
  t.equal(body.status, 'error');
  t.match(body.error, /HTTP 503/);
  const count = receiver.received.length;
  await fhir(base, 'POST', 'Observation', observation('pa'));
  clock.advance(3_600_000);
  await new Promise((r) => setTimeout(r, 200));
  t.equal(receiver.received.length, count, 'nothing more is sent');
  // Asking again restarts it with a handshake.
  receiver.answers.length = 0;
  const again = await fhir(base, 'PUT', `Subscription/${body.id}`, {
    ...body,
    status: 'requested',
  });
  t.equal(again.status, 200, again.text);
  t.ok(await until(async () => (await read()).body.status === 'active'));
  t.notOk((await read()).body.error, 'the error is cleared');
});

t.test('off stops delivery; delete removes the Subscription', async (t) => {
  const { base } = await subscriptionWorld(t);
  const receiver = await startReceiver(t);
  const created = await fhir(
    base,
    'POST',
    'Subscription',
    subscription(receiver.url, 'Observation?'),
  );
  await receiver.waitFor(1);
  const off = await fhir(base, 'PUT', `Subscription/${created.body.id}`, {
    ...created.body,
    extension: undefined,
    status: 'off',
  });
  t.equal(off.status, 200, off.text);
  t.equal(off.body.status, 'off');
  t.equal(off.body.meta.versionId, '2');
  await fhir(base, 'POST', 'Observation', observation('pa'));
  await new Promise((r) => setTimeout(r, 200));
  t.equal(receiver.received.length, 1, 'only the handshake');
  t.equal((await fhir(base, 'DELETE', `Subscription/${created.body.id}`)).status, 204);
  t.equal((await fhir(base, 'GET', `Subscription/${created.body.id}`)).status, 404);
});

t.test('a Subscription is validated', async (t) => {
  const { base } = await subscriptionWorld(t);
  const noReason = subscription('http://127.0.0.1:9/h', 'Observation?');
  delete noReason.reason;
  t.equal((await fhir(base, 'POST', 'Subscription', noReason)).status, 422);
  const email = subscription('http://127.0.0.1:9/h', 'Observation?', { type: 'email' });
  t.equal((await fhir(base, 'POST', 'Subscription', email)).status, 422);
  const xml = subscription('http://127.0.0.1:9/h', 'Observation?', {
    payload: 'application/fhir+xml',
  });
  t.equal((await fhir(base, 'POST', 'Subscription', xml)).status, 422);
  t.equal((await fhir(base, 'POST', 'Subscription', { resourceType: 'Patient' })).status, 400);
});
