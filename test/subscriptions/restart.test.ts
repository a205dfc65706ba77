/**
 * A replica that stops mid-delivery loses nothing: the notification it was sending is sent
 * again by the next one (after the lease the first held runs out), with the same notification
 * id, so the receiver sees at-least-once delivery it can deduplicate.
 */
import t from 'tap';
import { fhir, startServer, testConfig } from '../helpers.js';
import { patient } from '../fixtures.js';
import { startReceiver } from './receiver.js';
import { observation, subscription, subscriptionSettings, TestClock, until } from './world.js';

t.test('a restart mid-delivery loses nothing and repeats only with the same id', async (t) => {
  const clock = new TestClock();
  const config = await testConfig(t, { subscriptions: subscriptionSettings({ timeoutMs: 5000 }) });
  const receiver = await startReceiver(t);
  const first = await startServer(t, config, { now: clock.now });
  await fhir(first.base, 'PUT', 'Patient/pa', { ...patient(), id: 'pa' });
  const created = await fhir(
    first.base,
    'POST',
    'Subscription',
    subscription(receiver.url, 'Observation?'),
  );
  t.equal(created.status, 201, created.text);
  await receiver.waitFor(1);
  t.ok(
    await until(
      async () =>
        (await fhir(first.base, 'GET', `Subscription/${created.body.id}`)).body.status === 'active',
    ),
  );
  receiver.answers.push('hang'); // the receiver takes it and never answers
  const one = await fhir(first.base, 'POST', 'Observation', observation('pa', '1000-1'));
  const two = await fhir(first.base, 'POST', 'Observation', observation('pa', '2000-2'));
  await receiver.waitFor(2);
  t.equal(receiver.received.length, 2, 'the first change is on its way');
  await first.close(); // the replica stops while the POST is unanswered

  const second = await startServer(t, config, { now: clock.now });
  await new Promise((r) => setTimeout(r, 150));
  t.equal(receiver.received.length, 2, 'nobody sends while the lease of the stopped replica holds');
  clock.advance(60_000); // the lease runs out
  const got = await receiver.waitFor(4);
  const three = await fhir(second.base, 'POST', 'Observation', observation('pa', '3000-3'));
  await receiver.waitFor(5);
  await new Promise((r) => setTimeout(r, 150));
  const events = got.slice(1).map((r) => ({
    id: r.headers['x-notification-id'],
    resource: JSON.parse(r.body).id,
  }));
  t.same(
    events.map((e) => e.resource),
    [one.body.id, one.body.id, two.body.id, three.body.id],
    'the interrupted one again, then the rest, in order, each once',
  );
  t.equal(events[0]!.id, events[1]!.id, 'the repeat has the same notification id');
  t.equal(new Set(events.map((e) => e.id)).size, 3);
});
