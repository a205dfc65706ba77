/** One owner can't fill the server with Subscriptions: SUBSCRIPTION_MAX_PER_OWNER, then 429. */
import t from 'tap';
import { fhir } from '../helpers.js';
import { auth, patientToken, subscription, subscriptionWorld } from './world.js';

t.test('past SUBSCRIPTION_MAX_PER_OWNER a create is refused; others are not', async (t) => {
  const { base } = await subscriptionWorld(t, { maxPerOwner: 2 });
  const a = auth(patientToken('pa'));
  const b = auth(patientToken('pb'));
  const ws = () => ({ ...subscription('', 'Observation?'), channel: { type: 'websocket' } });
  const made = await Promise.all([1, 2, 3].map(() => fhir(base, 'POST', 'Subscription', ws(), a)));
  t.same(made.map((r) => r.status).sort(), [201, 201, 429], 'three at once: two made, one refused');
  const refused = made.find((r) => r.status === 429)!;
  t.equal(refused.body.resourceType, 'OperationOutcome');
  t.equal((await fhir(base, 'POST', 'Subscription', ws(), b)).status, 201, 'another owner can');
  const first = made.find((r) => r.status === 201)!;
  t.equal((await fhir(base, 'DELETE', `Subscription/${first.body.id}`, undefined, a)).status, 204);
  t.equal((await fhir(base, 'POST', 'Subscription', ws(), a)).status, 201, 'room again');
  const searched = await fhir(base, 'GET', 'Subscription', undefined, a);
  t.equal(searched.body.total, 2);
});
