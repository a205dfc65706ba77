process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
/**
 * $start-visit and $end-visit through the real Chime SDK client against the Chime emulator
 * (which checks every request's SigV4 signature), and with the local provider.
 */
import t from 'tap';
import { fhir, logCapture, startServer, testConfig, testToken } from '../helpers.js';
import { patient, practitioner } from '../fixtures.js';
import { startChimeEmulator } from '../emulators/chime-meetings.js';
import type { Config } from '../../src/config.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const credentials = {
  accessKeyId: 'AKIDTELEFHIRTEST',
  secretAccessKey: 'telefhir-test-secret-key',
};
const region = 'us-east-1';
process.env.AWS_ACCESS_KEY_ID = credentials.accessKeyId;
process.env.AWS_SECRET_ACCESS_KEY = credentials.secretAccessKey;
process.env.AWS_REGION = region;

const as = (claims: Json) => ({ authorization: `Bearer ${testToken(claims)}` });
const alice = as({ scope: 'patient/*.rs', role: 'PATIENT', patient: 'p1' });
const bob = as({ scope: 'patient/*.rs', role: 'PATIENT', patient: 'p2' });
const drOne = as({ scope: 'user/*.*', role: 'PROVIDER', fhirUser: 'Practitioner/dr1' });
const nurse = as({ scope: 'user/*.*', role: 'NURSE', fhirUser: 'Practitioner/dr2' });

async function server(t: Parameters<typeof testConfig>[0], video: Partial<Config['video']>) {
  const logs = logCapture();
  const config = await testConfig(t, { logLevel: 'info' });
  config.video = { ...config.video, ...video };
  const running = await startServer(t, config, { logStream: logs.stream });
  const { base } = running;
  await fhir(base, 'PUT', 'Patient/p1', { ...patient(), id: 'p1' });
  await fhir(base, 'PUT', 'Patient/p2', { ...patient(), id: 'p2' });
  await fhir(base, 'PUT', 'Practitioner/dr1', { ...practitioner(), id: 'dr1' });
  await fhir(base, 'PUT', 'Practitioner/dr2', { ...practitioner(), id: 'dr2' });
  return { base, logs };
}

async function bookIn(base: string, minutes: number, length = 30) {
  const start = new Date(Date.now() + minutes * 60_000);
  start.setUTCSeconds(0, 0);
  const end = new Date(start.getTime() + length * 60_000);
  const res = await fhir(base, 'POST', 'Appointment/$book', {
    resourceType: 'Parameters',
    parameter: [
      { name: 'patient', valueReference: { reference: 'Patient/p1' } },
      { name: 'practitioner', valueReference: { reference: 'Practitioner/dr1' } },
      { name: 'start', valueDateTime: start.toISOString() },
      { name: 'end', valueDateTime: end.toISOString() },
    ],
  });
  if (res.status !== 201) throw new Error(res.text);
  return res.body;
}

const part = (parameters: Json, name: string, sub: string) =>
  parameters.parameter.find((p: Json) => p.name === name).part.find((p: Json) => p.name === sub)
    .valueString;

t.test('a visit on Chime: one meeting, an attendee each, an Encounter; then it ends', async (t) => {
  const emulator = await startChimeEmulator({ credentials, region });
  t.teardown(() => emulator.stop());
  const { base, logs } = await server(t, {
    provider: 'chime',
    endpoint: emulator.endpoint,
    region,
  });
  const appointment = await bookIn(base, 10);

  const first = await fhir(
    base,
    'POST',
    `Appointment/${appointment.id}/$start-visit`,
    undefined,
    alice,
  );
  t.equal(first.status, 200, first.text);
  t.equal(first.body.resourceType, 'Parameters');
  const meetingId = part(first.body, 'meeting', 'meetingId');
  t.equal(part(first.body, 'meeting', 'externalMeetingId'), appointment.id);
  t.ok(
    JSON.parse(part(first.body, 'meeting', 'mediaPlacement')).AudioHostUrl,
    'Chime MediaPlacement',
  );
  const aliceToken = part(first.body, 'attendee', 'joinToken');
  t.ok(aliceToken);
  const encounterRef = first.body.parameter.find((p: Json) => p.name === 'encounter').valueReference
    .reference;
  const encounter = (await fhir(base, 'GET', encounterRef)).body;
  t.equal(encounter.status, 'in-progress');
  t.equal(encounter.class.code, 'VR');
  t.same(encounter.subject, { reference: 'Patient/p1' });
  t.same(encounter.appointment, [{ reference: `Appointment/${appointment.id}` }]);
  t.same(encounter.participant, [{ individual: { reference: 'Practitioner/dr1' } }]);
  t.ok(encounter.period.start);
  t.equal((await fhir(base, 'GET', `Appointment/${appointment.id}`)).body.status, 'arrived');

  const second = await fhir(
    base,
    'POST',
    `Appointment/${appointment.id}/$start-visit`,
    undefined,
    drOne,
  );
  t.equal(second.status, 200);
  t.equal(
    part(second.body, 'meeting', 'meetingId'),
    meetingId,
    'the other party joins the same meeting',
  );
  t.not(part(second.body, 'attendee', 'attendeeId'), part(first.body, 'attendee', 'attendeeId'));
  const again = await fhir(base, 'POST', `Appointment/${appointment.id}/$start-visit`, undefined, {
    ...alice,
    'idempotency-key': 'start-1',
  });
  const replay = await fhir(base, 'POST', `Appointment/${appointment.id}/$start-visit`, undefined, {
    ...alice,
    'idempotency-key': 'start-1',
  });
  t.equal(part(again.body, 'meeting', 'meetingId'), meetingId);
  t.equal(part(replay.body, 'meeting', 'meetingId'), meetingId, 'the same meeting again');
  t.equal(emulator.calls.createMeeting, 1, 'Chime saw one CreateMeeting');
  const encounters = await fhir(base, 'GET', `Encounter?appointment=Appointment/${appointment.id}`);
  t.equal(encounters.body.entry.length, 1, 'one Encounter');

  t.equal(
    (await fhir(base, 'POST', `Appointment/${appointment.id}/$start-visit`, undefined, bob)).status,
    403,
    'another patient',
  );
  t.equal(
    (await fhir(base, 'POST', `Appointment/${appointment.id}/$start-visit`, undefined, nurse))
      .status,
    403,
    'a nurse not in it',
  );
  const admin = as({ scope: 'user/*.*', role: 'ADMIN', fhirUser: 'Practitioner/admin' });
  const adminJoin = await fhir(
    base,
    'POST',
    `Appointment/${appointment.id}/$start-visit`,
    undefined,
    admin,
  );
  t.equal(adminJoin.status, 200, 'ADMIN may join');
  t.equal(part(adminJoin.body, 'meeting', 'meetingId'), meetingId);
  const backend = as({ scope: 'system/*.*' });
  t.equal(
    (await fhir(base, 'POST', `Appointment/${appointment.id}/$start-visit`, undefined, backend))
      .status,
    403,
    'a backend service is no party to a visit',
  );

  // The join token went to the caller only.
  const everything = [
    (await fhir(base, 'GET', 'AuditEvent?_count=1000')).text,
    (await fhir(base, 'GET', '_history?_count=1000')).text,
    logs.text(),
  ].join('\n');
  t.notOk(
    everything.includes(aliceToken),
    'no join token in FHIR data, the audit trail or the logs',
  );

  const endedByPatient = await fhir(base, 'POST', `${encounterRef}/$end-visit`, undefined, alice);
  t.equal(endedByPatient.status, 403, 'a patient does not end the visit');
  const ended = await fhir(base, 'POST', `${encounterRef}/$end-visit`, undefined, drOne);
  t.equal(ended.status, 200, ended.text);
  t.equal(ended.body.status, 'finished');
  t.ok(ended.body.period.end);
  t.equal((await fhir(base, 'GET', `Appointment/${appointment.id}`)).body.status, 'fulfilled');
  t.equal(emulator.calls.deleteMeeting, 1);
  t.equal(
    (await fhir(base, 'POST', `${encounterRef}/$end-visit`, undefined, drOne)).status,
    200,
    'ending again',
  );
  t.equal(emulator.calls.deleteMeeting, 1, 'once');
  const rejoin = await fhir(
    base,
    'POST',
    `Appointment/${appointment.id}/$start-visit`,
    undefined,
    alice,
  );
  t.equal(rejoin.status, 409, 'a fulfilled appointment has no visit to join');
});

t.test('the visit window and the appointment status are enforced', async (t) => {
  const emulator = await startChimeEmulator({ credentials, region });
  t.teardown(() => emulator.stop());
  const { base } = await server(t, { provider: 'chime', endpoint: emulator.endpoint, region });
  const later = await bookIn(base, 120);
  const early = await fhir(base, 'POST', `Appointment/${later.id}/$start-visit`, undefined, alice);
  t.equal(early.status, 409);
  t.match(early.body.issue[0].diagnostics, /opens at/);
  const soon = await bookIn(base, 5);
  await fhir(base, 'POST', `Appointment/${soon.id}/$cancel`);
  const cancelled = await fhir(
    base,
    'POST',
    `Appointment/${soon.id}/$start-visit`,
    undefined,
    alice,
  );
  t.equal(cancelled.status, 409, 'a cancelled appointment');
  t.equal(
    (await fhir(base, 'POST', 'Appointment/nope/$start-visit', undefined, alice)).status,
    404,
  );
  t.equal(emulator.calls.createMeeting, 0, 'no meeting was made for any of them');
});

t.test('Chime refusing our signature is a 502 and leaves nothing behind', async (t) => {
  const emulator = await startChimeEmulator({
    credentials: { ...credentials, secretAccessKey: 'a-different-secret' },
    region,
  });
  t.teardown(() => emulator.stop());
  const { base } = await server(t, { provider: 'chime', endpoint: emulator.endpoint, region });
  const appointment = await bookIn(base, 5);
  const res = await fhir(
    base,
    'POST',
    `Appointment/${appointment.id}/$start-visit`,
    undefined,
    alice,
  );
  t.equal(res.status, 502);
  t.equal(res.body.resourceType, 'OperationOutcome');
  t.ok(emulator.rejections.length > 0, 'the emulator rejected the signature');
  t.equal((await fhir(base, 'GET', 'Encounter')).body.entry?.length ?? 0, 0, 'no Encounter');
  t.equal((await fhir(base, 'GET', `Appointment/${appointment.id}`)).body.status, 'booked');
});

t.test('the local provider runs the same flow without AWS', async (t) => {
  const { base } = await server(t, { provider: 'local' });
  const appointment = await bookIn(base, 1);
  const a = await fhir(
    base,
    'POST',
    `Appointment/${appointment.id}/$start-visit`,
    undefined,
    alice,
  );
  t.equal(a.status, 200, a.text);
  const b = await fhir(
    base,
    'POST',
    `Appointment/${appointment.id}/$start-visit`,
    undefined,
    drOne,
  );
  t.equal(part(a.body, 'meeting', 'meetingId'), part(b.body, 'meeting', 'meetingId'));
  t.equal(part(a.body, 'meeting', 'mediaRegion'), 'local');
  t.not(part(a.body, 'attendee', 'joinToken'), part(b.body, 'attendee', 'joinToken'));
  const encounterRef = a.body.parameter[0].valueReference.reference;
  t.equal((await fhir(base, 'POST', `${encounterRef}/$end-visit`, undefined, drOne)).status, 200);
});
