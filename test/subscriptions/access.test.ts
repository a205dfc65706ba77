/**
 * Who may see and change a Subscription, and what its notifications may carry: only the
 * owner's own Subscriptions, only what the owner's grant reads at delivery, no endpoint inside
 * the server's network.
 */
import t from 'tap';
import { fhir, startServer, testConfig, testToken } from '../helpers.js';
import { startReceiver } from './receiver.js';
import {
  auth,
  observation,
  patientToken,
  subscription,
  subscriptionSettings,
  subscribedWorld,
  subscriptionWorld,
  until,
} from './world.js';

t.test("another patient can't read, search, update or delete someone's Subscription", async (t) => {
  const { base } = await subscriptionWorld(t);
  const receiver = await startReceiver(t);
  const a = auth(patientToken('pa'));
  const b = auth(patientToken('pb'));
  const created = await fhir(
    base,
    'POST',
    'Subscription',
    subscription(receiver.url, 'Observation?'),
    a,
  );
  t.equal(created.status, 201, created.text);
  const id = created.body.id;
  t.equal(
    (await fhir(base, 'GET', `Subscription/${id}`, undefined, a)).status,
    200,
    'the owner reads it',
  );
  t.equal((await fhir(base, 'GET', `Subscription/${id}`, undefined, b)).status, 404);
  const searched = await fhir(base, 'GET', 'Subscription', undefined, b);
  t.equal(searched.status, 200);
  t.same(searched.body.entry, [], "the other patient's search finds nothing");
  t.equal((await fhir(base, 'GET', `Subscription?_id=${id}`, undefined, a)).body.entry.length, 1);
  const changed = { ...created.body, id, criteria: 'Observation?patient=pb' };
  t.equal((await fhir(base, 'PUT', `Subscription/${id}`, changed, b)).status, 404);
  t.equal((await fhir(base, 'DELETE', `Subscription/${id}`, undefined, b)).status, 404);
  const system = await fhir(base, 'GET', `Subscription/${id}`);
  t.equal(system.status, 404, 'not even a system token reads a Subscription it did not create');
  t.equal(
    (await fhir(base, 'GET', `Subscription/${id}`, undefined, a)).body.criteria,
    'Observation?',
  );
});

t.test("a Subscription reaching data its owner can't read delivers nothing of it", async (t) => {
  const { base, receiver, a, created } = await subscribedWorld(t, 'Observation?patient=pb');
  await receiver.waitFor(1); // the handshake
  await fhir(base, 'POST', 'Observation', observation('pb'));
  const withheld = await until(async () => {
    const rows = await fetch(`${base}/Subscription/${created.body.id}`, {
      headers: a,
    });
    return rows.status === 200;
  });
  t.ok(withheld);
  // Let several passes run: nothing but the handshake may arrive.
  await new Promise((r) => setTimeout(r, 300));
  t.equal(receiver.received.length, 1, 'only the handshake');
  t.equal(receiver.received[0]!.headers['x-notification-event'], 'handshake');
});

t.test("a patient's Observation? subscription gets only that patient's Observations", async (t) => {
  const { base, receiver } = await subscribedWorld(t, 'Observation?');
  await fhir(base, 'POST', 'Observation', observation('pb', '1111-1'));
  const mine = await fhir(base, 'POST', 'Observation', observation('pa', '2222-2'));
  await fhir(base, 'POST', 'Observation', observation('pb', '3333-3'));
  const last = await fhir(base, 'POST', 'Observation', observation('pa', '4444-4'));
  await receiver.waitFor(3);
  await new Promise((r) => setTimeout(r, 200));
  const events = receiver.received.slice(1);
  t.same(
    events.map((r) => JSON.parse(r.body).id),
    [mine.body.id, last.body.id],
    "the owner's two, in order, nothing of the other patient's",
  );
  t.notOk(
    receiver.received.some((r) => r.body.includes('pb')),
    'no trace of the other patient',
  );
});

t.test('the criteria must be a search the owner may run', async (t) => {
  const { base } = await subscriptionWorld(t);
  const front = auth(testToken({ sub: 'desk', scope: 'user/*.cruds', role: 'RECEPTIONIST' }));
  const refused = await fhir(
    base,
    'POST',
    'Subscription',
    subscription('http://127.0.0.1:9/hook', 'Observation?'),
    front,
  );
  t.equal(refused.status, 403, 'a receptionist may not search Observations');
  const audit = await fhir(
    base,
    'POST',
    'Subscription',
    subscription('http://127.0.0.1:9/h', 'AuditEvent?'),
  );
  t.equal(audit.status, 422);
  const unknown = await fhir(
    base,
    'POST',
    'Subscription',
    subscription('http://127.0.0.1:9/h', 'Observation?nonsense=1'),
  );
  t.equal(unknown.status, 422, 'an unknown parameter is refused, not ignored');
  const include = await fhir(
    base,
    'POST',
    'Subscription',
    subscription('http://127.0.0.1:9/h', 'Observation?_include=Observation:subject'),
  );
  t.equal(include.status, 422);
});

t.test('endpoints inside the server network are refused (SSRF)', async (t) => {
  const { base } = await subscriptionWorld(t, { allowPrivate: false });
  for (const endpoint of [
    'http://169.254.169.254/latest/meta-data/',
    'http://[fd00:ec2::254]/',
    'http://[fe80::1]/',
    'http://127.0.0.1:8080/hook',
    'http://[::1]/hook',
    'http://localhost/hook',
    'http://10.0.0.5/hook',
    'http://[::ffff:169.254.169.254]/',
    'http://0.0.0.0/',
    'ftp://example.com/hook',
    'http://user:pw@example.com/hook',
    'not a url',
  ]) {
    const res = await fhir(base, 'POST', 'Subscription', subscription(endpoint, 'Observation?'));
    t.equal(res.status, 422, endpoint);
    t.equal(res.body?.resourceType, 'OperationOutcome');
  }
  const https = await subscriptionWorld(t, { allowPrivate: true, httpsOnly: true });
  const plain = await fhir(
    https.base,
    'POST',
    'Subscription',
    subscription('http://example.com/h', 'Observation?'),
  );
  t.equal(plain.status, 422, 'https only in production');
  const linkLocal = await fhir(
    https.base,
    'POST',
    'Subscription',
    subscription('https://169.254.169.254/', 'Observation?'),
  );
  t.equal(linkLocal.status, 422, 'link-local even when loopback is allowed');
});

t.test('headers the server sets itself are refused in channel.header', async (t) => {
  const { base } = await subscriptionWorld(t);
  for (const header of [
    'Host: evil',
    'X-Subscription-Signature: x',
    'Bad Header',
    'A: b\r\nC: d',
  ]) {
    const res = await fhir(
      base,
      'POST',
      'Subscription',
      subscription('http://127.0.0.1:9/h', 'Observation?', { header: [header] }),
    );
    t.equal(res.status, 422, JSON.stringify(header));
  }
});

t.test('where writes are not matched in their transaction (HealthLake), 501', async (t) => {
  const config = await testConfig(t, { subscriptions: subscriptionSettings() });
  // The outbox path, as with HealthLake: the store's writes can't be matched in their transaction.
  const { base } = await startServer(t, config, { separateWorkflow: true });
  const res = await fhir(
    base,
    'POST',
    'Subscription',
    subscription('http://127.0.0.1:9/h', 'Observation?'),
  );
  t.equal(res.status, 501);
  t.equal(res.body.resourceType, 'OperationOutcome');
  const metadata = await fhir(base, 'GET', 'metadata');
  t.notOk(
    metadata.body.rest[0].resource.some((r: { type: string }) => r.type === 'Subscription'),
    'and the CapabilityStatement does not list it',
  );
});
