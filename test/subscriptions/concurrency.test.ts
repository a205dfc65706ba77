/**
 * One slow receiver doesn't hold the others: each Subscription is delivered by its own worker
 * (up to a few at once), and a turn takes no new notification past its share, so another
 * Subscription's notification waits for no more than one attempt's timeout.
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

const TIMEOUT_MS = 1500;

t.test('a slow receiver does not delay another Subscription', async (t) => {
  const { base } = await subscriptionWorld(t, { timeoutMs: TIMEOUT_MS });
  const slow = await startReceiver(t);
  const fast = await startReceiver(t);
  const a = auth(patientToken('pa'));
  const ids: string[] = [];
  for (const receiver of [slow, fast]) {
    const made = await fhir(
      base,
      'POST',
      'Subscription',
      subscription(receiver.url, 'Observation?'),
      a,
    );
    t.equal(made.status, 201, 'created');
    ids.push(made.body.id);
  }
  t.ok(
    await until(async () => {
      for (const id of ids) {
        if ((await fhir(base, 'GET', `Subscription/${id}`, undefined, a)).body.status !== 'active')
          return false;
      }
      return true;
    }),
    'both active',
  );
  slow.delayMs = TIMEOUT_MS - 300; // answers in time, but slowly
  const written = new Map<string, number>();
  for (let i = 0; i < 6; i++) {
    const obs = await fhir(base, 'POST', 'Observation', observation('pa'));
    written.set(obs.body.id, Date.now());
    await new Promise((r) => setTimeout(r, 150));
  }
  const arrived = () => {
    const at = new Map<string, number>();
    for (const r of fast.received) {
      if (r.headers['x-notification-event'] !== 'create') continue;
      const id = JSON.parse(r.body).id as string;
      if (!at.has(id)) at.set(id, r.at);
    }
    return at;
  };
  t.ok(await until(() => arrived().size >= written.size, 15_000), 'all reached the fast one');
  const at = arrived();
  const waits = [...written].map(([id, sent]) => at.get(id)! - sent);
  const worst = Math.max(...waits);
  t.ok(worst < TIMEOUT_MS, `the fast receiver waited at most ${worst} ms (< ${TIMEOUT_MS})`);
  t.ok(
    await until(
      () => slow.received.filter((r) => r.headers['x-notification-event'] === 'create').length >= 6,
      20_000,
    ),
    'the slow one gets them all too',
  );
  const order = slow.received
    .filter((r) => r.headers['x-notification-event'] === 'create')
    .map((r) => JSON.parse(r.body).id as string);
  t.same([...new Set(order)], [...written.keys()], 'in order');
});
