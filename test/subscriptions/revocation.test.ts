/**
 * A Subscription made with a token of the built-in authorization server lasts only as long as
 * the grant behind it: when the user who approved the app, or the app (client) itself, is
 * disabled, nothing more is delivered and the Subscription goes `off`, saying why.
 */
import t, { type Test } from 'tap';
import type { Database } from '../../src/db/database.js';
import { fhir } from '../helpers.js';
import { APP_SCOPE, codeFor, exchange, launchSetup } from '../oauth/launch-helpers.js';
import { startReceiver } from './receiver.js';
import { auth, observation, subscription, subscriptionSettings, until } from './world.js';

type Setup = Awaited<ReturnType<typeof launchSetup>>;

/** Amy's app's token, from a real launch (sign-in, consent, code exchange). */
async function amyToken({ server, clientId }: Setup) {
  const { code, verifier } = await codeFor(server, clientId, { scope: APP_SCOPE });
  const token = await exchange(server, clientId, code, verifier);
  if (token.status !== 200) throw new Error(`token: ${token.text}`);
  return token.json.access_token as string;
}

async function subscribed(t: Test) {
  const setup = await launchSetup(t, { subscriptions: subscriptionSettings() });
  const { server, admin } = setup;
  const receiver = await startReceiver(t);
  const amy = auth(await amyToken(setup));
  const criteria = 'Observation?code=8867-4';
  const made = await fhir(
    server.base,
    'POST',
    'Subscription',
    subscription(`${receiver.url}/amy`, criteria),
    amy,
  );
  t.equal(made.status, 201, made.text);
  const ref = `Subscription/${made.body.id}`;
  const status = async () => (await fhir(server.base, 'GET', ref, undefined, amy)).body;
  t.ok(await until(async () => (await status()).status === 'active'), 'handshake done');
  const write = () =>
    fhir(server.base, 'POST', 'Observation', observation('p1'), auth(admin)).then((r) => {
      if (r.status !== 201) throw new Error(r.text);
      return r.body.id as string;
    });
  const delivered = (id: string) => receiver.received.some((r) => r.body.includes(`"id":"${id}"`));
  const first = await write();
  t.ok(await until(() => delivered(first)), 'delivered while the grant stands');
  return { ...setup, receiver, ref, write, delivered };
}

/** The Subscription's row as the deliverer left it. */
const stateOf = (db: Database, ref: string) => async () =>
  (
    await db.query<{ status: string; error: string | null }>(
      'SELECT status, error FROM subscription WHERE id = $1',
      [ref.split('/')[1]],
    )
  )[0]!;

t.test('attack: a disabled user’s Subscription delivers nothing more', async (t) => {
  const { server, users, ref, write, delivered } = await subscribed(t);
  t.ok(await users.disable('amy'));
  const after = await write();
  const state = stateOf(server.app.oauthServer!.db, ref);
  t.ok(await until(async () => (await state()).status === 'off'), 'turned off');
  t.match((await state()).error, /user .* disabled/);
  await new Promise((r) => setTimeout(r, 300)); // several delivery passes
  t.notOk(delivered(after), 'the write after the user was disabled was not sent');
});

t.test('attack: a disabled client’s Subscription delivers nothing more', async (t) => {
  const { server, clientId, ref, write, delivered } = await subscribed(t);
  t.ok(await server.app.oauthServer!.clients.disable(clientId));
  const after = await write();
  const state = stateOf(server.app.oauthServer!.db, ref);
  t.ok(await until(async () => (await state()).status === 'off'), 'turned off');
  t.match((await state()).error, /client .* disabled/);
  await new Promise((r) => setTimeout(r, 300));
  t.notOk(delivered(after), 'the write after the client was disabled was not sent');
  const left = await server.app.oauthServer!.db.query('SELECT 1 FROM subscription_notification');
  t.same(left, [], 'what was queued for it is gone');
});
