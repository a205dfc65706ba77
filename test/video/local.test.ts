import t from 'tap';
import {
  createLocalVideoProvider,
  createMemoryMeetingLedger,
  type LocalMeetingLedger,
} from '../../src/video/local.js';
import { VideoError } from '../../src/video/video-provider.js';

const secret = 'local-video-test-secret-0123456789abcdef';

function provider(ledger: LocalMeetingLedger = createMemoryMeetingLedger(), key = secret) {
  return createLocalVideoProvider({ secret: key, ledger });
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (e: unknown) => e,
  );
}

t.test('a meeting looks like a Chime meeting with local.invalid hosts', async (t) => {
  const meeting = await provider().createMeeting({
    externalMeetingId: 'Encounter/1',
    clientRequestToken: 'visit-1',
  });
  t.match(
    meeting.meetingId,
    /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
  );
  t.equal(meeting.externalMeetingId, 'Encounter/1');
  t.equal(meeting.mediaRegion, 'local');
  t.same(Object.keys(meeting.mediaPlacement).sort(), [
    'AudioFallbackUrl',
    'AudioHostUrl',
    'EventIngestionUrl',
    'ScreenDataUrl',
    'ScreenSharingUrl',
    'ScreenViewingUrl',
    'SignalingUrl',
    'TurnControlUrl',
  ]);
  for (const url of Object.values(meeting.mediaPlacement)) {
    t.match(url, /^(wss:\/\/|https:\/\/)?[a-z]+\.local\.invalid[:/]/, url);
  }
});

t.test(
  'createMeeting is idempotent on the token, across replicas sharing the ledger',
  async (t) => {
    const ledger = createMemoryMeetingLedger();
    const first = await provider(ledger).createMeeting({
      externalMeetingId: 'enc-1',
      clientRequestToken: 'tok-1',
    });
    // A second replica (another provider object, nothing shared but the secret and the ledger).
    const again = await provider(ledger).createMeeting({
      externalMeetingId: 'enc-1',
      clientRequestToken: 'tok-1',
    });
    t.same(again, first);
    const other = await provider(ledger).createMeeting({
      externalMeetingId: 'enc-1',
      clientRequestToken: 'tok-2',
    });
    t.not(other.meetingId, first.meetingId);
  },
);

t.test('the first create wins when a retry names another external id', async (t) => {
  const ledger = createMemoryMeetingLedger();
  const video = provider(ledger);
  const first = await video.createMeeting({
    externalMeetingId: 'enc-1',
    clientRequestToken: 'tok-1',
  });
  const retry = await video.createMeeting({
    externalMeetingId: 'enc-9',
    clientRequestToken: 'tok-1',
  });
  t.equal(retry.externalMeetingId, 'enc-1');
  t.same(await video.getMeeting(first.meetingId), first);
});

t.test('ids depend on the secret', async (t) => {
  const input = { externalMeetingId: 'enc-1', clientRequestToken: 'tok-1' };
  const a = await provider().createMeeting(input);
  const b = await provider(createMemoryMeetingLedger(), `${secret}-other`).createMeeting(input);
  t.not(a.meetingId, b.meetingId);
});

t.test('each user gets a distinct attendee and join token; a rejoin gets the same', async (t) => {
  const video = provider();
  const { meetingId } = await video.createMeeting({
    externalMeetingId: 'enc-1',
    clientRequestToken: 'tok-1',
  });
  const patient = await video.createAttendee(meetingId, { externalUserId: 'Patient/1' });
  const doctor = await video.createAttendee(meetingId, { externalUserId: 'Practitioner/7' });
  t.equal(patient.externalUserId, 'Patient/1');
  t.not(patient.attendeeId, doctor.attendeeId);
  t.not(patient.joinToken, doctor.joinToken);
  t.ok(patient.joinToken.length >= 40, 'a 256-bit token');
  t.same(await video.createAttendee(meetingId, { externalUserId: 'Patient/1' }), patient);

  const { meetingId: otherMeeting } = await video.createMeeting({
    externalMeetingId: 'enc-2',
    clientRequestToken: 'tok-2',
  });
  const elsewhere = await video.createAttendee(otherMeeting, { externalUserId: 'Patient/1' });
  t.not(elsewhere.joinToken, patient.joinToken, 'a token admits to one meeting only');
});

t.test('endMeeting is idempotent and ends the meeting for every replica', async (t) => {
  const ledger = createMemoryMeetingLedger();
  const video = provider(ledger);
  const meeting = await video.createMeeting({
    externalMeetingId: 'enc-1',
    clientRequestToken: 'tok-1',
  });
  t.same(await provider(ledger).getMeeting(meeting.meetingId), meeting);
  await video.endMeeting(meeting.meetingId);
  await video.endMeeting(meeting.meetingId);
  await video.endMeeting('00000000-0000-8000-8000-000000000000');
  t.equal(await provider(ledger).getMeeting(meeting.meetingId), undefined);

  const err = await rejection(
    provider(ledger).createAttendee(meeting.meetingId, { externalUserId: 'Patient/1' }),
  );
  t.type(err, VideoError);
  t.equal((err as VideoError).kind, 'not-found');

  // The token still names the ended meeting: a late retry does not resurrect or duplicate it.
  const late = await video.createMeeting({
    externalMeetingId: 'enc-1',
    clientRequestToken: 'tok-1',
  });
  t.equal(late.meetingId, meeting.meetingId);
  t.equal(await video.getMeeting(meeting.meetingId), undefined);
});

t.test('unknown meetings are undefined / not-found', async (t) => {
  const video = provider();
  t.equal(await video.getMeeting('no-such-meeting'), undefined);
  const err = await rejection(
    video.createAttendee('no-such-meeting', { externalUserId: 'Patient/1' }),
  );
  t.equal((err as VideoError).kind, 'not-found');
});

t.test('identifiers outside Chime’s 2–64 characters are invalid', async (t) => {
  const video = provider();
  for (const input of [
    { externalMeetingId: 'enc-1', clientRequestToken: 'x' },
    { externalMeetingId: 'e', clientRequestToken: 'tok-1' },
    { externalMeetingId: 'enc-1', clientRequestToken: 'x'.repeat(65) },
  ]) {
    const err = await rejection(video.createMeeting(input));
    t.equal((err as VideoError | undefined)?.kind, 'invalid', JSON.stringify(input).slice(0, 60));
  }
  const { meetingId } = await video.createMeeting({
    externalMeetingId: 'enc-1',
    clientRequestToken: 'tok-1',
  });
  const err = await rejection(video.createAttendee(meetingId, { externalUserId: '' }));
  t.equal((err as VideoError | undefined)?.kind, 'invalid');
});

t.test('a short secret stops start-up', async (t) => {
  t.throws(() => provider(createMemoryMeetingLedger(), 'too-short'), /at least 32 characters/);
});

t.test('the provider keeps no meetings of its own: the ledger is the truth', async (t) => {
  const calls: string[] = [];
  const memory = createMemoryMeetingLedger();
  const ledger: LocalMeetingLedger = {
    record: (m) => (calls.push('record'), memory.record(m)),
    find: (id) => (calls.push('find'), memory.find(id)),
    markEnded: (id) => (calls.push('markEnded'), memory.markEnded(id)),
  };
  const video = provider(ledger);
  const { meetingId } = await video.createMeeting({
    externalMeetingId: 'enc-1',
    clientRequestToken: 'tok-1',
  });
  await video.getMeeting(meetingId);
  await video.createAttendee(meetingId, { externalUserId: 'Patient/1' });
  await video.endMeeting(meetingId);
  t.same(calls, ['record', 'find', 'find', 'markEnded']);
});
