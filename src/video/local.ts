import { createHmac } from 'node:crypto';
import type { Sql } from '../db/database.js';
import { VideoError, checkIdentifier, type Meeting, type VideoProvider } from './video-provider.js';

/**
 * A VideoProvider for laptops with no AWS: meetings that look like Chime's, with no media
 * behind them (hosts are under `.invalid`). Ids and join tokens are HMACs of their inputs, so
 * every replica derives the same ones without asking the others; the only state — which
 * meetings exist and which have ended — lives in a ledger the caller provides.
 */

/** What the ledger holds about one meeting. */
export interface LocalMeetingEntry {
  meeting: Meeting;
  ended: boolean;
}

/**
 * The meetings the local provider has issued. The server passes one backed by Postgres (a
 * table keyed by meeting id), so meetings outlive the process and every replica sees them;
 * `createMemoryMeetingLedger` exists for tests only.
 */
export interface LocalMeetingLedger {
  /**
   * Stores the meeting unless one with its id is already recorded, and returns what is stored
   * then — the earlier entry when there was one (`INSERT … ON CONFLICT (meeting_id) DO
   * NOTHING`, then select), so concurrent creates with one token agree on the result.
   */
  record(meeting: Meeting): Promise<LocalMeetingEntry>;
  /** Undefined when no meeting with this id was ever recorded. */
  find(meetingId: string): Promise<LocalMeetingEntry | undefined>;
  /** Marks the meeting ended; unknown or already-ended ids are not an error. */
  markEnded(meetingId: string): Promise<void>;
  /**
   * The same ledger read and written through `sql`, a transaction the caller holds (see
   * VideoProvider.within). A ledger outside the database (memory, tests) has none.
   */
  within?(sql: Sql): LocalMeetingLedger;
}

export interface LocalVideoOptions {
  /**
   * Key for the HMACs, the same on every replica (at least 32 characters). Whoever holds it can
   * compute every join token, so it is a secret like the token-signing key.
   */
  secret: string;
  ledger: LocalMeetingLedger;
}

const MIN_SECRET_LENGTH = 32;
const HOST = 'local.invalid';

export function createLocalVideoProvider({ secret, ledger }: LocalVideoOptions): VideoProvider {
  if (typeof secret !== 'string' || secret.length < MIN_SECRET_LENGTH) {
    throw new Error(`the local video secret must be at least ${MIN_SECRET_LENGTH} characters`);
  }
  // Domain-separated so a meeting id can never be replayed as an attendee id or a token.
  const derive = (purpose: string, ...parts: string[]): Buffer =>
    createHmac('sha256', secret)
      .update([purpose, ...parts].map((p) => `${p.length}:${p}`).join('|'))
      .digest();

  async function liveMeeting(meetingId: string): Promise<Meeting | undefined> {
    const entry = await ledger.find(meetingId);
    return entry && !entry.ended ? entry.meeting : undefined;
  }

  const provider: VideoProvider = {
    within(sql) {
      return ledger.within
        ? createLocalVideoProvider({ secret, ledger: ledger.within(sql) })
        : provider;
    },

    async createMeeting({ externalMeetingId, clientRequestToken }) {
      checkIdentifier('clientRequestToken', clientRequestToken);
      checkIdentifier('externalMeetingId', externalMeetingId);
      const meetingId = uuidFromDigest(derive('meeting', clientRequestToken));
      const stored = await ledger.record({
        meetingId,
        externalMeetingId,
        mediaRegion: 'local',
        mediaPlacement: mediaPlacementFor(meetingId),
      });
      return stored.meeting;
    },

    async createAttendee(meetingId, { externalUserId }) {
      checkIdentifier('externalUserId', externalUserId);
      if (!(await liveMeeting(meetingId))) {
        throw new VideoError('not-found', `meeting ${meetingId} does not exist or has ended`);
      }
      // Like Chime, one attendee per external user: joining twice (a reload, a retry) yields
      // the same attendee, and no two users share one.
      const attendeeId = uuidFromDigest(derive('attendee', meetingId, externalUserId));
      const joinToken = derive('join-token', meetingId, attendeeId).toString('base64url');
      return { attendeeId, externalUserId, joinToken };
    },

    getMeeting: liveMeeting,

    async endMeeting(meetingId) {
      await ledger.markEnded(meetingId);
    },

    async close() {},
  };
  return provider;
}

/** An RFC 9562 version-8 (application-defined) UUID from the first 16 bytes of a digest. */
function uuidFromDigest(digest: Buffer): string {
  const b = Buffer.from(digest.subarray(0, 16));
  b[6] = (b[6]! & 0x0f) | 0x80;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const hex = b.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Chime's MediaPlacement names, so clients parse local meetings as they parse real ones. */
function mediaPlacementFor(meetingId: string): Record<string, string> {
  return {
    AudioHostUrl: `audio.${HOST}:3478`,
    AudioFallbackUrl: `wss://audio.${HOST}:443/calls/${meetingId}`,
    SignalingUrl: `wss://signal.${HOST}/control/${meetingId}`,
    TurnControlUrl: `https://turn.${HOST}/v2/turn_sessions`,
    ScreenDataUrl: `wss://screen.${HOST}/v2/screen/${meetingId}`,
    ScreenViewingUrl: `wss://screen.${HOST}/ws/connect?passcode=null&viewer_uuid=null&X-BitHub-Call-Id=${meetingId}`,
    ScreenSharingUrl: `wss://screen.${HOST}/v2/screen/${meetingId}`,
    EventIngestionUrl: `https://ingest.${HOST}/v1/client-events`,
  };
}

/**
 * FOR TESTS ONLY: a ledger in process memory, which the stateless server must never use (a
 * second replica, or a restart, would not know the meetings).
 */
export function createMemoryMeetingLedger(): LocalMeetingLedger {
  const entries = new Map<string, LocalMeetingEntry>();
  const copy = (e: LocalMeetingEntry): LocalMeetingEntry => structuredClone(e);
  return {
    async record(meeting) {
      const existing = entries.get(meeting.meetingId);
      if (existing) return copy(existing);
      const entry = { meeting: structuredClone(meeting), ended: false };
      entries.set(meeting.meetingId, entry);
      return copy(entry);
    },
    async find(meetingId) {
      const entry = entries.get(meetingId);
      return entry ? copy(entry) : undefined;
    },
    async markEnded(meetingId) {
      const entry = entries.get(meetingId);
      if (entry) entry.ended = true;
    },
  };
}
