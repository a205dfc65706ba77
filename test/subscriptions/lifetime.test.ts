/**
 * A Subscription's grant doesn't outlive it, and it doesn't live forever: Subscription.end is
 * honoured and capped (SUBSCRIPTION_MAX_LIFETIME_HOURS), and each update by the owner replaces
 * the kept grant with the updating token's.
 */
import t from 'tap';
import { fhir, testToken } from '../helpers.js';
import { startReceiver } from './receiver.js';
import {
  auth,
  observation,
  patientToken,
  subscription,
  subscribedWorld,
  subscriptionWorld,
  until,
} from './world.js';

const HOUR = 3_600_000;

t.test('past its end a Subscription is off and delivers nothing', async (t) => {
  const { base, clock, receiver, a, created } = await subscribedWorld(t, 'Observation?', {
    maxLifetimeMs: 2 * HOUR,
  });
  const end = Date.parse(created.body.end);
  t.ok(
    Math.abs(end - (clock.now().getTime() + 2 * HOUR)) < 60_000,
    'no end asked: the end is the cap, in the resource',
  );
  await receiver.waitFor(1); // the handshake
  t.ok(
    await until(
      async () =>
        (await fhir(base, 'GET', `Subscription/${created.body.id}`, undefined, a)).body.status ===
        'active',
    ),
  );
  clock.advance(2 * HOUR + 1000);
  const read = await fhir(base, 'GET', `Subscription/${created.body.id}`, undefined, a);
  t.equal(read.body.status, 'off', 'after its end it reads off');
  await fhir(base, 'POST', 'Observation', observation('pa'));
  await new Promise((r) => setTimeout(r, 400));
  t.equal(receiver.received.length, 1, 'only the handshake: nothing after the end');
});

t.test('an end beyond the cap is brought to it; an earlier end is kept', async (t) => {
  const { base, clock } = await subscriptionWorld(t, { maxLifetimeMs: 2 * HOUR });
  const receiver = await startReceiver(t);
  const a = auth(patientToken('pa'));
  const far = new Date(clock.now().getTime() + 100 * 24 * HOUR).toISOString();
  const capped = await fhir(
    base,
    'POST',
    'Subscription',
    { ...subscription(receiver.url, 'Observation?'), end: far },
    a,
  );
  t.equal(capped.status, 201, capped.text);
  t.ok(Date.parse(capped.body.end) <= clock.now().getTime() + 2 * HOUR + 1000, 'capped');
  const soon = new Date(clock.now().getTime() + HOUR).toISOString();
  const kept = await fhir(
    base,
    'POST',
    'Subscription',
    { ...subscription(receiver.url, 'Observation?'), end: soon },
    a,
  );
  t.equal(Date.parse(kept.body.end), Date.parse(soon), 'an earlier end is kept');
  // An update re-caps it from then, and an update can't lift it past the cap either.
  const again = await fhir(
    base,
    'PUT',
    `Subscription/${capped.body.id}`,
    { ...capped.body, end: far },
    a,
  );
  t.equal(again.status, 200, again.text);
  t.ok(Date.parse(again.body.end) <= clock.now().getTime() + 2 * HOUR + 1000, 'capped on update');
  const past = await fhir(
    base,
    'POST',
    'Subscription',
    {
      ...subscription(receiver.url, 'Observation?'),
      end: new Date(clock.now().getTime() - 1000).toISOString(),
    },
    a,
  );
  t.equal(past.status, 201, past.text);
  t.equal(past.body.status, 'off', 'an end already past: off');
});

t.test("an update replaces the kept grant with the updater's", async (t) => {
  const { base } = await subscriptionWorld(t);
  const receiver = await startReceiver(t);
  // One user (a proxy) whose patient context moved from pa to pb.
  const asProxy = (patient: string, scope = 'patient/*.rs') =>
    auth(
      testToken({
        sub: 'proxy-1',
        scope,
        patient,
        role: 'PATIENT',
        fhirUser: `Patient/${patient}`,
      }),
    );
  const created = await fhir(
    base,
    'POST',
    'Subscription',
    subscription(receiver.url, 'Observation?'),
    asProxy('pa'),
  );
  t.equal(created.status, 201, created.text);
  const id = created.body.id;
  await receiver.waitFor(1);
  t.ok(
    await until(
      async () =>
        (await fhir(base, 'GET', `Subscription/${id}`, undefined, asProxy('pa'))).body.status ===
        'active',
    ),
  );
  const updated = await fhir(
    base,
    'PUT',
    `Subscription/${id}`,
    { ...created.body, extension: undefined },
    asProxy('pb'),
  );
  t.equal(updated.status, 200, updated.text);
  await fhir(base, 'POST', 'Observation', observation('pa', '1111-1'));
  await fhir(base, 'POST', 'Observation', observation('pb', '2222-2'));
  const got = await receiver.waitFor(2);
  await new Promise((r) => setTimeout(r, 300));
  const bodies = receiver.received.slice(1).map((r) => r.body);
  t.equal(bodies.length, 1, "only pb's Observation: pa's is outside the updater's grant");
  t.match(String(bodies[0]), /2222-2/);
  t.ok(got.length >= 2);
  // A grant that no longer covers the criteria can't update it.
  const narrow = await fhir(
    base,
    'PUT',
    `Subscription/${id}`,
    { ...created.body, extension: undefined },
    asProxy('pb', 'patient/Patient.rs'),
  );
  t.equal(narrow.status, 403, narrow.text);
  t.equal(narrow.body.resourceType, 'OperationOutcome');
});
