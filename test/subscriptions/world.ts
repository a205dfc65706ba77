/** A server with subscriptions delivered quickly, a movable clock, and a few patients. */
type Tap = import('tap').Test;
import { fhir, startServer, testConfig, testToken } from '../helpers.js';
import { patient } from '../fixtures.js';
import type { Config } from '../../src/config.js';
import { startReceiver } from './receiver.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export const SECRET_EXTENSION = 'https://telefhir.dev/fhir/StructureDefinition/subscription-secret';

export class TestClock {
  offsetMs = 0;
  now = () => new Date(Date.now() + this.offsetMs);
  advance(ms: number) {
    this.offsetMs += ms;
  }
}

export const subscriptionSettings = (over: Partial<Config['subscriptions']> = {}) => ({
  allowPrivate: true,
  httpsOnly: false,
  retryWindowMs: 60_000,
  timeoutMs: 400,
  pollMs: 20,
  maxLifetimeMs: 720 * 3_600_000,
  maxPerOwner: 20,
  wsBindTimeoutMs: 10_000,
  wsMaxConnections: 1000,
  wsMaxPerAddress: 20,
  ...over,
});

export async function subscriptionWorld(
  t: Tap,
  over: Partial<Config['subscriptions']> = {},
  clock = new TestClock(),
) {
  const config = await testConfig(t, { subscriptions: subscriptionSettings(over) });
  const server = await startServer(t, config, { now: clock.now });
  for (const id of ['pa', 'pb'])
    await fhir(server.base, 'PUT', `Patient/${id}`, { ...patient(), id });
  return { ...server, clock };
}

/**
 * A world with a receiver and Patient/pa's rest-hook Subscription to `criteria` there (its
 * 201 checked): `a` is pa's authorization header, `created` the create's answer.
 */
export async function subscribedWorld(
  t: Tap,
  criteria: string,
  over: Partial<Config['subscriptions']> = {},
  clock = new TestClock(),
) {
  const world = await subscriptionWorld(t, over, clock);
  const receiver = await startReceiver(t);
  const a = auth(patientToken('pa'));
  const created = await fhir(
    world.base,
    'POST',
    'Subscription',
    subscription(receiver.url, criteria),
    a,
  );
  t.equal(created.status, 201, created.text);
  return { ...world, receiver, a, created };
}

export const patientToken = (id: string) =>
  testToken({
    sub: `user-${id}`,
    scope: 'patient/*.rs',
    patient: id,
    role: 'PATIENT',
    fhirUser: `Patient/${id}`,
  });

export const auth = (token: string) => ({ authorization: `Bearer ${token}` });

export const subscription = (endpoint: string, criteria: string, extra: Json = {}): Json => ({
  resourceType: 'Subscription',
  status: 'requested',
  reason: 'test',
  criteria,
  channel: { type: 'rest-hook', endpoint, payload: 'application/fhir+json', ...extra },
});

export const observation = (patientId: string, code = '8867-4', extra: Json = {}): Json => ({
  resourceType: 'Observation',
  status: 'final',
  code: { coding: [{ system: 'http://loinc.org', code }] },
  subject: { reference: `Patient/${patientId}` },
  ...extra,
});

export const secretOf = (created: Json): string =>
  created.extension?.find((e: Json) => e.url === SECRET_EXTENSION)?.valueString;

/** Polls until `check` is true (a few seconds at most). */
export async function until(check: () => Promise<boolean> | boolean, ms = 8000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 15));
  }
  return false;
}
