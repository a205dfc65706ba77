import {
  ChimeSDKMeetingsClient,
  CreateAttendeeCommand,
  CreateMeetingCommand,
  DeleteMeetingCommand,
  GetMeetingCommand,
  type ChimeSDKMeetingsClientConfig,
  type Meeting as ChimeMeeting,
} from '@aws-sdk/client-chime-sdk-meetings';
import { VideoError, type Meeting, type VideoProvider } from './video-provider.js';

export interface ChimeVideoOptions {
  /** Control-plane region (`AWS_REGION`); also the media region unless `mediaRegion` says. */
  region: string;
  /** Where the media for new meetings is hosted; defaults to `region`. */
  mediaRegion?: string;
  /**
   * `CHIME_ENDPOINT`, for the emulator. Absent: the SDK's own resolution
   * (`AWS_ENDPOINT_URL_CHIME_SDK_MEETINGS`, then the regional endpoint).
   */
  endpoint?: string;
  /** Absent: the SDK's default provider chain (env, SSO, ECS task role, …). */
  credentials?: ChimeSDKMeetingsClientConfig['credentials'];
  /** SDK attempts per call, retries included (SDK default 3). */
  maxAttempts?: number;
  /**
   * Deadline for one call, retries included. A visit start waits on it, so a hung Chime must
   * fail the request instead of holding it open.
   */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 10_000;

export function createChimeVideoProvider(options: ChimeVideoOptions): VideoProvider {
  const client = new ChimeSDKMeetingsClient({
    region: options.region,
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    ...(options.credentials ? { credentials: options.credentials } : {}),
    ...(options.maxAttempts ? { maxAttempts: options.maxAttempts } : {}),
  });
  const mediaRegion = options.mediaRegion ?? options.region;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;

  // One wrapper so every call gets the deadline and the error mapping, and no SDK error type
  // leaks past this file.
  async function call<T>(action: string, send: (signal: AbortSignal) => Promise<T>): Promise<T> {
    try {
      return await send(AbortSignal.timeout(timeoutMs));
    } catch (err) {
      throw toVideoError(err, action);
    }
  }

  const provider: VideoProvider = {
    // Chime keeps the meetings: nothing of ours to put in the caller's transaction.
    within: () => provider,

    async createMeeting({ externalMeetingId, clientRequestToken }) {
      const out = await call('CreateMeeting', (abortSignal) =>
        client.send(
          new CreateMeetingCommand({
            ClientRequestToken: clientRequestToken,
            ExternalMeetingId: externalMeetingId,
            MediaRegion: mediaRegion,
          }),
          { abortSignal },
        ),
      );
      return fromChimeMeeting(out.Meeting, 'CreateMeeting');
    },

    async createAttendee(meetingId, { externalUserId }) {
      const out = await call('CreateAttendee', (abortSignal) =>
        client.send(
          new CreateAttendeeCommand({ MeetingId: meetingId, ExternalUserId: externalUserId }),
          { abortSignal },
        ),
      );
      const a = out.Attendee;
      if (!a?.AttendeeId || !a.JoinToken) {
        throw new VideoError('unavailable', 'Chime CreateAttendee answered without an attendee');
      }
      return {
        attendeeId: a.AttendeeId,
        externalUserId: a.ExternalUserId ?? externalUserId,
        joinToken: a.JoinToken,
      };
    },

    async getMeeting(meetingId) {
      try {
        const out = await call('GetMeeting', (abortSignal) =>
          client.send(new GetMeetingCommand({ MeetingId: meetingId }), { abortSignal }),
        );
        return fromChimeMeeting(out.Meeting, 'GetMeeting');
      } catch (err) {
        if (err instanceof VideoError && err.kind === 'not-found') return undefined;
        throw err;
      }
    },

    async endMeeting(meetingId) {
      try {
        await call('DeleteMeeting', (abortSignal) =>
          client.send(new DeleteMeetingCommand({ MeetingId: meetingId }), { abortSignal }),
        );
      } catch (err) {
        // Chime forgets a meeting once it is deleted, so "not found" is the ended state.
        if (err instanceof VideoError && err.kind === 'not-found') return;
        throw err;
      }
    },

    async close() {
      client.destroy();
    },
  };
  return provider;
}

function fromChimeMeeting(m: ChimeMeeting | undefined, action: string): Meeting {
  if (!m?.MeetingId) {
    throw new VideoError('unavailable', `Chime ${action} answered without a meeting`);
  }
  const mediaPlacement: Record<string, string> = {};
  for (const [name, url] of Object.entries(m.MediaPlacement ?? {})) {
    if (typeof url === 'string') mediaPlacement[name] = url;
  }
  return {
    meetingId: m.MeetingId,
    externalMeetingId: m.ExternalMeetingId ?? '',
    mediaRegion: m.MediaRegion ?? '',
    mediaPlacement,
  };
}

const NOT_FOUND = new Set(['NotFoundException', 'ResourceNotFoundException']);
const THROTTLED = new Set(['ThrottlingException', 'LimitExceededException']);
const INVALID = new Set([
  'BadRequestException',
  'UnprocessableEntityException',
  'ConflictException',
  'ValidationException',
]);

interface SdkErrorShape {
  name?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  RetryAfterSeconds?: string;
}

/** Exported for tests: maps what the SDK throws to what our caller can act on. */
export function toVideoError(err: unknown, action: string): VideoError {
  if (err instanceof VideoError) return err;
  const e = (typeof err === 'object' && err !== null ? err : {}) as SdkErrorShape;
  const name = e.name ?? 'Error';
  const status = e.$metadata?.httpStatusCode;
  const detail = `Chime ${action} failed: ${name}${e.message ? `: ${e.message}` : ''}`;
  if (NOT_FOUND.has(name) || status === 404) {
    return new VideoError('not-found', detail, { cause: err });
  }
  if (THROTTLED.has(name) || status === 429) {
    return new VideoError('throttled', detail, { cause: err });
  }
  if (INVALID.has(name) || status === 400 || status === 422) {
    return new VideoError('invalid', detail, { cause: err });
  }
  const retryAfter = Number(e.RetryAfterSeconds);
  // Everything else — 5xx, timeouts, refused connections, and 401/403 (our own credentials or
  // signature are wrong, which the person calling us cannot fix) — is an upstream failure.
  return new VideoError('unavailable', detail, {
    cause: err,
    ...(Number.isFinite(retryAfter) && retryAfter > 0 ? { retryAfterSeconds: retryAfter } : {}),
  });
}
