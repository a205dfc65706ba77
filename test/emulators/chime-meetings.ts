import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifySigV4 } from './sigv4.js';

/**
 * An Amazon Chime SDK Meetings control plane on loopback, speaking the REST-JSON shapes the
 * real @aws-sdk/client-chime-sdk-meetings sends and parses, and refusing — as AWS does — any
 * request whose SigV4 signature (signing name `chime`) does not verify. Meetings live in this
 * process: it is a test double, not part of the server.
 */

export type ChimeFault = 'throttle' | 'unavailable' | 'server-error' | 'hang';

export interface ChimeEmulator {
  /** `http://127.0.0.1:PORT`, for the client's `endpoint`. */
  endpoint: string;
  /** Requests that passed the signature check, per operation (replays included). */
  calls: {
    createMeeting: number;
    createAttendee: number;
    getMeeting: number;
    deleteMeeting: number;
    /** Answered with an injected fault instead of the operation. */
    faulted: number;
  };
  /** Distinct meetings ever created (idempotent replays do not count). */
  meetingsCreated(): number;
  /** Why each refused request was refused, in order (verifier reasons). */
  rejections: string[];
  /** The next `count` signed requests get `fault` instead of an answer. */
  failNext(count: number, fault: ChimeFault): void;
  stop(): Promise<void>;
}

interface StoredMeeting {
  meeting: Record<string, unknown> & { MeetingId: string };
  attendees: Map<string, { AttendeeId: string; ExternalUserId: string; JoinToken: string }>;
  deleted: boolean;
}

const FAULTS: Record<Exclude<ChimeFault, 'hang'>, [number, string]> = {
  throttle: [429, 'ThrottlingException'],
  unavailable: [503, 'ServiceUnavailableException'],
  'server-error': [500, 'ServiceFailureException'],
};

export async function startChimeEmulator(options: {
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  region: string;
}): Promise<ChimeEmulator> {
  const meetings = new Map<string, StoredMeeting>();
  const byToken = new Map<string, string>();
  const faults: ChimeFault[] = [];
  const hanging = new Set<ServerResponse>();
  const calls = {
    createMeeting: 0,
    createAttendee: 0,
    getMeeting: 0,
    deleteMeeting: 0,
    faulted: 0,
  };
  const rejections: string[] = [];

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      send(res, 500, 'ServiceFailureException', { Code: 'ServiceFailure', Message: String(err) });
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const query = q < 0 ? '' : url.slice(q + 1);
    const method = req.method ?? 'GET';

    const verdict = await verifySigV4(
      { method, path, query, headers: req.headers, body },
      { service: 'chime', region: options.region, credentials: options.credentials },
    );
    if (!verdict.ok) {
      rejections.push(verdict.reason);
      // AWS front doors answer lowercase `message` for authentication failures.
      return send(res, 403, verdict.code, { message: verdict.reason });
    }

    const fault = faults.shift();
    if (fault) {
      calls.faulted++;
      if (fault === 'hang') {
        hanging.add(res);
        res.on('close', () => hanging.delete(res));
        return;
      }
      const [status, type] = FAULTS[fault];
      const headers: Record<string, string> = fault === 'unavailable' ? { 'retry-after': '1' } : {};
      return send(
        res,
        status,
        type,
        { Code: type.replace(/Exception$/, ''), Message: `injected ${fault}` },
        headers,
      );
    }

    let segments: string[];
    let input: Record<string, unknown>;
    try {
      segments = path
        .split('/')
        .filter((s) => s !== '')
        .map(decodeURIComponent);
      input = body.length > 0 ? (JSON.parse(body.toString('utf8')) as Record<string, unknown>) : {};
    } catch {
      return badRequest(res, 'the path or the JSON body is malformed');
    }
    if (segments[0] !== 'meetings' || query !== '') return unknownOperation(res, method, path);

    if (segments.length === 1 && method === 'POST') {
      calls.createMeeting++;
      return createMeeting(res, input);
    }
    const stored = segments[1] === undefined ? undefined : meetings.get(segments[1]);
    const live = stored && !stored.deleted ? stored : undefined;
    if (segments.length === 2 && method === 'GET') {
      calls.getMeeting++;
      return live ? send(res, 200, undefined, { Meeting: live.meeting }) : notFound(res);
    }
    if (segments.length === 2 && method === 'DELETE') {
      calls.deleteMeeting++;
      if (!live) return notFound(res);
      live.deleted = true;
      return send(res, 204);
    }
    if (segments.length === 3 && segments[2] === 'attendees' && method === 'POST') {
      calls.createAttendee++;
      if (!live) return notFound(res);
      return createAttendee(res, live, input);
    }
    return unknownOperation(res, method, path);
  }

  function createMeeting(res: ServerResponse, input: Record<string, unknown>): void {
    const {
      ClientRequestToken: token,
      ExternalMeetingId: external,
      MediaRegion: mediaRegion,
    } = input;
    const problem =
      invalidId('ClientRequestToken', token) ??
      (external === undefined ? undefined : invalidId('ExternalMeetingId', external)) ??
      (typeof mediaRegion === 'string' && mediaRegion !== ''
        ? undefined
        : 'MediaRegion is required');
    if (problem) return badRequest(res, problem);

    // Idempotent on the token, as Chime is: a retry gets the meeting the first call created.
    const prior = byToken.get(token as string);
    if (prior) return send(res, 200, undefined, { Meeting: meetings.get(prior)!.meeting });

    const id = randomUUID();
    const region = mediaRegion as string;
    const meeting = {
      MeetingId: id,
      ...(external === undefined ? {} : { ExternalMeetingId: external }),
      MediaRegion: region,
      MeetingArn: `arn:aws:chime:${options.region}:111122223333:meeting/${id}`,
      MediaPlacement: {
        AudioHostUrl: `${id.slice(0, 8)}.k.m1.${region}.emulator.invalid:3478`,
        AudioFallbackUrl: `wss://haxrp.m1.${region}.emulator.invalid:443/calls/${id}`,
        SignalingUrl: `wss://signal.m1.${region}.emulator.invalid/control/${id}`,
        TurnControlUrl: `https://2713.cell.${region}.emulator.invalid/v2/turn_sessions`,
        ScreenDataUrl: `wss://bitpw.m1.${region}.emulator.invalid:443/v2/screen/${id}`,
        ScreenViewingUrl: `wss://bitpw.m1.${region}.emulator.invalid:443/ws/connect?passcode=null&viewer_uuid=null&X-BitHub-Call-Id=${id}`,
        ScreenSharingUrl: `wss://bitpw.m1.${region}.emulator.invalid:443/v2/screen/${id}`,
        EventIngestionUrl: `https://data.svc.${region}.emulator.invalid/v1/client-events`,
      },
    };
    meetings.set(id, { meeting, attendees: new Map(), deleted: false });
    byToken.set(token as string, id);
    send(res, 200, undefined, { Meeting: meeting });
  }

  function createAttendee(
    res: ServerResponse,
    stored: StoredMeeting,
    input: Record<string, unknown>,
  ): void {
    const external = input.ExternalUserId;
    const problem = invalidId('ExternalUserId', external);
    if (problem) return badRequest(res, problem);
    // One attendee per external user id, as in Chime: asking again returns the same attendee.
    let attendee = stored.attendees.get(external as string);
    if (!attendee) {
      attendee = {
        AttendeeId: randomUUID(),
        ExternalUserId: external as string,
        JoinToken: randomBytes(48).toString('base64'),
      };
      stored.attendees.set(attendee.ExternalUserId, attendee);
    }
    send(res, 200, undefined, { Attendee: attendee });
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    calls,
    meetingsCreated: () => meetings.size,
    rejections,
    failNext(count, fault) {
      for (let i = 0; i < count; i++) faults.push(fault);
    },
    async stop() {
      if (!server.listening) return;
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) =>
        server.close((e) => (e ? reject(e) : resolve())),
      );
    },
  };
}

function invalidId(name: string, value: unknown): string | undefined {
  return typeof value === 'string' && value.length >= 2 && value.length <= 64
    ? undefined
    : `${name} must be a string of 2 to 64 characters`;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/**
 * Errors as the REST-JSON protocol carries them: the type in `x-amzn-errortype`, which the
 * SDK reads first to pick the exception class (NotFoundException, ThrottlingException, …).
 */
function send(
  res: ServerResponse,
  status: number,
  errorType?: string,
  body?: unknown,
  headers: Record<string, string> = {},
): void {
  const payload = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    ...(errorType ? { 'x-amzn-errortype': errorType } : {}),
    'x-amzn-requestid': randomUUID(),
    ...(payload ? { 'content-type': 'application/json' } : {}),
    'content-length': Buffer.byteLength(payload),
  });
  res.end(payload);
}

function notFound(res: ServerResponse): void {
  send(res, 404, 'NotFoundException', {
    Code: 'NotFound',
    Message: 'The requested resource does not exist.',
  });
}

function badRequest(res: ServerResponse, message: string): void {
  send(res, 400, 'BadRequestException', { Code: 'BadRequest', Message: message });
}

function unknownOperation(res: ServerResponse, method: string, path: string): void {
  send(res, 404, 'UnknownOperationException', { message: `no operation for ${method} ${path}` });
}
