/**
 * A telefhir server whose reminders go through the real SNS client to the SNS emulator, on a
 * clock the test moves: patients, practitioners, and appointments written over HTTP.
 */
import type { Test } from 'tap';
import type { Config } from '../../src/config.js';
import { patient, practitioner } from '../fixtures.js';
import { fhir, startServer, testConfig, testToken, type Running } from '../helpers.js';
import { startSnsEmulator, type SnsEmulator } from '../emulators/sns.js';
import { TEST_AWS } from '../healthlake/harness.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export const region = 'us-east-1';
// The HealthLake harness (TEST_STORE=healthlake) puts its keys in the environment the SDK
// reads: the SNS emulator accepts the same ones.
const credentials = TEST_AWS.credentials;

/** Phones of everyone in the world: who got what is read off the emulator by number. */
export const PHONES = {
  p1: '+15555550101',
  p2: '+15555550102',
  dr1: '+15555550201',
  dr2: '+15555550202',
};

/** What must never appear in a message. */
export const SECRETS = ['Chalmers', 'Peter', '12345', 'Careful', 'Adam', 'chest pain', 'cardio'];

export class Clock {
  constructor(public at: Date) {}
  now = () => this.at;
  set(iso: string) {
    this.at = new Date(iso);
  }
}

export async function snsEmulator(t: Test): Promise<SnsEmulator> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  process.env.AWS_ACCESS_KEY_ID = credentials.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = credentials.secretAccessKey;
  delete process.env.AWS_SESSION_TOKEN;
  delete process.env.AWS_PROFILE;
  const sns = await startSnsEmulator({ region, credentials });
  t.teardown(() => sns.stop());
  process.env.AWS_ENDPOINT_URL_SNS = sns.endpoint;
  return sns;
}

export interface World {
  server: Running;
  base: string;
  config: Config;
  clock: Clock;
  sns: SnsEmulator;
  /** A server on the same database and clock (another replica, or after a restart). */
  another(): Promise<Running>;
}

export async function world(
  t: Test,
  options: { forcePglite?: boolean; overrides?: Partial<Config>; start?: string } = {},
): Promise<World> {
  const sns = await snsEmulator(t);
  const clock = new Clock(new Date(options.start ?? '2031-01-01T00:00:00Z'));
  const config = await testConfig(t, options.overrides ?? {}, options.forcePglite ?? false);
  config.notify = { provider: 'sns', region, topicArn: undefined };
  config.reminders = { ...config.reminders, pollMs: 0, linkBase: 'https://visit.example/v' };
  const server = await startServer(t, config, { now: clock.now });
  const { base } = server;
  const people: [string, string, Json][] = [
    [
      'Patient',
      'p1',
      patient({ telecom: [{ system: 'phone', value: '+1 (555) 555-0101', use: 'mobile' }] }),
    ],
    ['Patient', 'p2', patient({ telecom: [{ system: 'sms', value: PHONES.p2 }] })],
    ['Practitioner', 'dr1', practitioner({ telecom: [{ system: 'phone', value: PHONES.dr1 }] })],
    ['Practitioner', 'dr2', practitioner({ telecom: [{ system: 'phone', value: PHONES.dr2 }] })],
  ];
  for (const [type, id, body] of people) {
    const res = await fhir(base, 'PUT', `${type}/${id}`, { ...body, id });
    if (res.status >= 300) throw new Error(res.text);
  }
  return {
    server,
    base,
    config,
    clock,
    sns,
    another: () => startServer(t, { ...config }, { now: clock.now }),
  };
}

export const appointment = (
  id: string,
  start: string,
  extra: Json = {},
  who = ['Patient/p1', 'Practitioner/dr1'],
) => ({
  resourceType: 'Appointment',
  id,
  status: 'booked',
  description: 'cardiology follow-up',
  reasonCode: [{ text: 'chest pain' }],
  start,
  end: new Date(Date.parse(start) + 30 * 60_000).toISOString(),
  participant: who.map((reference) => ({ actor: { reference }, status: 'accepted' })),
  ...extra,
});

export async function put(base: string, body: Json) {
  const res = await fhir(base, 'PUT', `${body.resourceType}/${body.id}`, body);
  if (res.status >= 300) throw new Error(`${res.status} ${res.text}`);
  return res.body;
}

/** Messages each phone got since `from` (an index into the emulator's list). */
export function byPhone(sns: SnsEmulator, from = 0): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const m of sns.messages.slice(from)) (out[m.phoneNumber ?? '?'] ??= []).push(m.message);
  return out;
}

export const patientToken = (id: string) =>
  testToken({ scope: 'patient/*.rs', patient: id, role: 'PATIENT', sub: `user-${id}` });

/** `$book`'s parameters: Patient/p2 with Practitioner/dr2 for 30 minutes from `start`. */
export const bookP2WithDr2 = (start: string) => ({
  resourceType: 'Parameters',
  parameter: [
    { name: 'patient', valueReference: { reference: 'Patient/p2' } },
    { name: 'practitioner', valueReference: { reference: 'Practitioner/dr2' } },
    { name: 'start', valueDateTime: start },
    { name: 'end', valueDateTime: new Date(Date.parse(start) + 30 * 60_000).toISOString() },
  ],
});
