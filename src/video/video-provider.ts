/**
 * The video side of a telehealth visit: a meeting per visit, an attendee per participant.
 * Two implementations: `chime.ts` (Amazon Chime SDK Meetings) and `local.ts` (no AWS, for
 * laptops). Neither keeps meetings in process memory as the source of truth, so any replica
 * can answer for a meeting another replica created.
 */
import type { Sql } from '../db/database.js';

/** A meeting as the client SDKs need it to join (the shape of Chime's `Meeting`). */
export interface Meeting {
  meetingId: string;
  externalMeetingId: string;
  mediaRegion: string;
  /** Chime's MediaPlacement: AudioHostUrl, SignalingUrl, TurnControlUrl, … */
  mediaPlacement: Record<string, string>;
}

export interface Attendee {
  attendeeId: string;
  externalUserId: string;
  /** Secret: it lets its holder join the meeting as this attendee. Never log it. */
  joinToken: string;
}

export interface CreateMeetingInput {
  /** Our own name for the meeting (e.g. the Encounter id); Chime allows 2–64 characters. */
  externalMeetingId: string;
  /**
   * Idempotency key, 2–64 characters. The token names one meeting for good: a retry with it
   * returns that meeting, never a second one — also after the meeting has ended (then
   * getMeeting is undefined and createAttendee is not-found), so a new meeting needs a new token.
   */
  clientRequestToken: string;
}

export interface CreateAttendeeInput {
  /** Our own name for the participant (e.g. a Practitioner or Patient reference), 2–64 chars. */
  externalUserId: string;
}

export interface VideoProvider {
  /**
   * This provider for use inside a workflow transaction on `sql` (an operation's). One that
   * keeps its meetings in the workflow database (local) reads and writes them there, in that
   * transaction: never on a connection of its own, which on embedded PGlite (one connection)
   * would wait for the transaction holding it. One whose meetings live elsewhere (Chime) is
   * itself.
   */
  within(sql: Sql): VideoProvider;
  createMeeting(input: CreateMeetingInput): Promise<Meeting>;
  /** not-found when the meeting does not exist or has ended. */
  createAttendee(meetingId: string, input: CreateAttendeeInput): Promise<Attendee>;
  /** Undefined when the meeting does not exist (any more). */
  getMeeting(meetingId: string): Promise<Meeting | undefined>;
  /** Idempotent: ending an ended or unknown meeting succeeds. */
  endMeeting(meetingId: string): Promise<void>;
  /** Releases connections at shutdown. */
  close(): Promise<void>;
}

/**
 * What went wrong, as far as our caller can act on it. The REST layer maps:
 * not-found → 404, invalid → 400, unavailable → 502, throttled → 503 (with Retry-After).
 */
export type VideoErrorKind = 'not-found' | 'unavailable' | 'throttled' | 'invalid';

export class VideoError extends Error {
  readonly kind: VideoErrorKind;
  /** From the provider when it said when to come back (Chime's Retry-After). */
  readonly retryAfterSeconds: number | undefined;

  constructor(
    kind: VideoErrorKind,
    message: string,
    options: { cause?: unknown; retryAfterSeconds?: number } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = 'VideoError';
    this.kind = kind;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

/** Chime's length limits, checked by both providers so they reject the same input. */
export function checkIdentifier(name: string, value: string): void {
  if (typeof value !== 'string' || value.length < 2 || value.length > 64) {
    throw new VideoError('invalid', `${name} must be 2 to 64 characters`);
  }
}
