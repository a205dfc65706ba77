process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

import t, { type Test } from 'tap';
import { ChimeSDKMeetingsClient, CreateMeetingCommand } from '@aws-sdk/client-chime-sdk-meetings';
import { createChimeVideoProvider, type ChimeVideoOptions } from '../../src/video/chime.js';
import { VideoError, type VideoProvider } from '../../src/video/video-provider.js';
import { startChimeEmulator, type ChimeEmulator } from '../emulators/chime-meetings.js';

// Static test credentials shaped like a task role's (with a session token).
const credentials = {
  accessKeyId: 'AKIDCHIMETEST',
  secretAccessKey: 'chime/test+secret',
  sessionToken: 'session-token-1',
};
const region = 'us-east-1';

async function setup(
  t: Test,
  options: Partial<ChimeVideoOptions> = {},
): Promise<{ emulator: ChimeEmulator; video: VideoProvider }> {
  const emulator = await startChimeEmulator({ credentials, region });
  // One attempt unless a test says otherwise, so injected faults surface instead of retrying.
  const video = createChimeVideoProvider({
    region,
    endpoint: emulator.endpoint,
    credentials,
    maxAttempts: 1,
    ...options,
  });
  t.teardown(async () => {
    await video.close();
    await emulator.stop();
  });
  return { emulator, video };
}

async function videoError(t: Test, promise: Promise<unknown>): Promise<VideoError | undefined> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  t.type(err, VideoError, 'a VideoError');
  return err instanceof VideoError ? err : undefined;
}

t.test('createMeeting returns a meeting in Chime’s shape', async (t) => {
  const { video } = await setup(t);
  const meeting = await video.createMeeting({
    externalMeetingId: 'Encounter/1',
    clientRequestToken: 'visit-1',
  });
  t.match(meeting.meetingId, /^[0-9a-f-]{36}$/);
  t.equal(meeting.externalMeetingId, 'Encounter/1');
  t.equal(meeting.mediaRegion, region);
  t.match(meeting.mediaPlacement, {
    AudioHostUrl: String,
    AudioFallbackUrl: String,
    SignalingUrl: String,
    TurnControlUrl: String,
    ScreenDataUrl: String,
    ScreenViewingUrl: String,
    ScreenSharingUrl: String,
    EventIngestionUrl: String,
  });
});

t.test('createMeeting is idempotent on the ClientRequestToken', async (t) => {
  const { emulator, video } = await setup(t);
  const first = await video.createMeeting({
    externalMeetingId: 'enc-1',
    clientRequestToken: 'tok-1',
  });
  const again = await video.createMeeting({
    externalMeetingId: 'enc-1',
    clientRequestToken: 'tok-1',
  });
  t.equal(again.meetingId, first.meetingId, 'the retry gets the same meeting');
  t.equal(emulator.calls.createMeeting, 2, 'both calls reached Chime');
  t.equal(emulator.meetingsCreated(), 1, 'Chime created one meeting');
  const other = await video.createMeeting({
    externalMeetingId: 'enc-2',
    clientRequestToken: 'tok-2',
  });
  t.not(other.meetingId, first.meetingId, 'another token, another meeting');
  t.equal(emulator.meetingsCreated(), 2);
});

t.test('a CreateMeeting retried after a 500 still creates one meeting', async (t) => {
  const { emulator, video } = await setup(t, { maxAttempts: 3 });
  emulator.failNext(1, 'server-error');
  const meeting = await video.createMeeting({
    externalMeetingId: 'enc-1',
    clientRequestToken: 'tok-1',
  });
  t.ok(meeting.meetingId);
  t.equal(emulator.calls.faulted, 1, 'the first attempt failed');
  t.equal(emulator.calls.createMeeting, 1, 'the SDK retried');
  t.equal(emulator.meetingsCreated(), 1);
});

t.test('createAttendee gives each user their own attendee and join token', async (t) => {
  const { video } = await setup(t);
  const { meetingId } = await video.createMeeting({
    externalMeetingId: 'enc-1',
    clientRequestToken: 'tok-1',
  });
  const patient = await video.createAttendee(meetingId, { externalUserId: 'Patient/1' });
  const doctor = await video.createAttendee(meetingId, { externalUserId: 'Practitioner/7' });
  t.equal(patient.externalUserId, 'Patient/1');
  t.ok(patient.attendeeId && patient.joinToken);
  t.not(doctor.attendeeId, patient.attendeeId);
  t.not(doctor.joinToken, patient.joinToken);
});

t.test('getMeeting finds a live meeting; endMeeting ends it, twice without error', async (t) => {
  const { emulator, video } = await setup(t);
  const meeting = await video.createMeeting({
    externalMeetingId: 'enc-1',
    clientRequestToken: 'tok-1',
  });
  t.same(await video.getMeeting(meeting.meetingId), meeting);
  await video.endMeeting(meeting.meetingId);
  t.equal(await video.getMeeting(meeting.meetingId), undefined, 'gone once ended');
  await video.endMeeting(meeting.meetingId);
  await video.endMeeting('00000000-0000-0000-0000-000000000000');
  t.equal(emulator.calls.deleteMeeting, 3, 'every end reached Chime');
  const err = await videoError(
    t,
    video.createAttendee(meeting.meetingId, { externalUserId: 'Patient/1' }),
  );
  t.equal(err?.kind, 'not-found', 'no one joins an ended meeting');
});

t.test('an unknown meeting is not-found (ids needing URI encoding included)', async (t) => {
  const { emulator, video } = await setup(t);
  const err = await videoError(
    t,
    video.createAttendee('no-such-meeting', { externalUserId: 'Patient/1' }),
  );
  t.equal(err?.kind, 'not-found');
  t.equal(
    (err?.cause as Error | undefined)?.name,
    'NotFoundException',
    'the SDK raised its modeled error',
  );
  // The path is signed URI-encoded; a verifier that got this wrong would answer 403.
  t.equal(await video.getMeeting('no such/meeting:é%'), undefined);
  t.same(emulator.rejections, []);
});

t.test('a bad request is invalid', async (t) => {
  const { video } = await setup(t);
  const err = await videoError(
    t,
    video.createMeeting({ externalMeetingId: 'x', clientRequestToken: 'tok-1' }),
  );
  t.equal(err?.kind, 'invalid');
  t.equal((err?.cause as Error | undefined)?.name, 'BadRequestException');
});

t.test('429 is throttled; 503, 500 and a hung Chime are unavailable', async (t) => {
  const { emulator, video } = await setup(t, { timeoutMs: 300 });
  const input = { externalMeetingId: 'enc-1', clientRequestToken: 'tok-1' };

  emulator.failNext(1, 'throttle');
  const throttled = await videoError(t, video.createMeeting(input));
  t.equal(throttled?.kind, 'throttled');
  t.equal((throttled?.cause as Error | undefined)?.name, 'ThrottlingException');

  emulator.failNext(1, 'unavailable');
  const unavailable = await videoError(t, video.createMeeting(input));
  t.equal(unavailable?.kind, 'unavailable');
  t.equal(unavailable?.retryAfterSeconds, 1, 'Retry-After is carried');

  emulator.failNext(1, 'server-error');
  t.equal((await videoError(t, video.getMeeting('m-1')))?.kind, 'unavailable');

  emulator.failNext(1, 'hang');
  const started = Date.now();
  t.equal((await videoError(t, video.createMeeting(input)))?.kind, 'unavailable');
  t.ok(Date.now() - started < 5000, 'gave up at the deadline');

  t.equal(emulator.calls.faulted, 4);
  t.equal(emulator.meetingsCreated(), 0);
});

t.test('an unreachable Chime is unavailable', async (t) => {
  const { emulator } = await setup(t);
  const endpoint = emulator.endpoint;
  await emulator.stop();
  const video = createChimeVideoProvider({ region, endpoint, credentials, maxAttempts: 1 });
  t.teardown(() => video.close());
  const err = await videoError(t, video.getMeeting('m-1'));
  t.equal(err?.kind, 'unavailable');
});

t.test('a request signed with the wrong secret is refused', async (t) => {
  const { emulator } = await setup(t);
  const video = createChimeVideoProvider({
    region,
    endpoint: emulator.endpoint,
    credentials: { ...credentials, secretAccessKey: 'not-the-secret' },
    maxAttempts: 1,
  });
  t.teardown(() => video.close());
  const err = await videoError(
    t,
    video.createMeeting({ externalMeetingId: 'enc-1', clientRequestToken: 'tok-1' }),
  );
  t.equal(err?.kind, 'unavailable', 'our credentials are wrong: an upstream failure');
  const cause = err?.cause as
    { name?: string; $metadata?: { httpStatusCode?: number } } | undefined;
  t.equal(cause?.name, 'InvalidSignatureException');
  t.equal(cause?.$metadata?.httpStatusCode, 403);
  t.equal(emulator.calls.createMeeting, 0, 'nothing reached the operation');
  t.equal(emulator.meetingsCreated(), 0);
  t.match(emulator.rejections, [/signature we calculated does not match/]);
});

t.test('an unsigned or forged raw request is refused with 403', async (t) => {
  const { emulator } = await setup(t);
  const body = JSON.stringify({ ClientRequestToken: 'tok-1', MediaRegion: region });
  const unsigned = await fetch(`${emulator.endpoint}/meetings`, { method: 'POST', body });
  t.equal(unsigned.status, 403);
  t.equal(unsigned.headers.get('x-amzn-errortype'), 'MissingAuthenticationTokenException');

  const date = new Date().toISOString().replace(/[-:]|\.\d{3}/g, '');
  const forged = await fetch(`${emulator.endpoint}/meetings`, {
    method: 'POST',
    body,
    headers: {
      'x-amz-date': date,
      'x-amz-security-token': credentials.sessionToken,
      authorization:
        `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${date.slice(0, 8)}/${region}/chime/aws4_request, ` +
        `SignedHeaders=host;x-amz-date, Signature=${'0'.repeat(64)}`,
    },
  });
  t.equal(forged.status, 403);
  t.equal(forged.headers.get('x-amzn-errortype'), 'InvalidSignatureException');
  t.match(await forged.json(), { message: /signature we calculated does not match/ });
  t.equal(emulator.meetingsCreated(), 0);
});

t.test(
  'a client with a slow clock is refused, then corrects its clock from the answer',
  async (t) => {
    const { emulator } = await setup(t);
    // The real SDK reads the Date header of a signature-expired answer and retries in sync.
    const client = new ChimeSDKMeetingsClient({
      region,
      endpoint: emulator.endpoint,
      credentials,
      systemClockOffset: -20 * 60 * 1000,
    });
    t.teardown(() => client.destroy());
    const out = await client.send(
      new CreateMeetingCommand({
        ClientRequestToken: 'tok-1',
        ExternalMeetingId: 'enc-1',
        MediaRegion: region,
      }),
    );
    t.ok(out.Meeting?.MeetingId);
    t.match(emulator.rejections, [/Signature expired/]);
    t.equal(emulator.meetingsCreated(), 1);
  },
);
