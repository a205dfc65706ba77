import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { DestinationStream, LoggerOptions } from 'pino';
import type { LogLevel } from './config.js';

/** Ids a caller may choose for its request: short, printable, no separators that forge logs. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function requestId(request: IncomingMessage): string {
  const given = request.headers['x-request-id'];
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
}

/**
 * Logs say who did what to which path and how it ended, never with what: query strings carry
 * search values (PHI), so only the path is logged; bodies are never logged; credentials are
 * redacted wherever a header object slips into a log line.
 */
export function loggerOptions(
  level: LogLevel,
  stream?: DestinationStream,
): LoggerOptions & { stream?: DestinationStream } {
  return {
    level,
    ...(stream ? { stream } : {}),
    redact: {
      paths: [
        'req.headers.authorization',
        'req.headers.cookie',
        'headers.authorization',
        'headers.cookie',
        '*.headers.authorization',
      ],
      censor: '[redacted]',
    },
    serializers: {
      req: (request: FastifyRequest) => ({
        method: request.method,
        path: request.url.split('?')[0],
        remoteAddress: request.ip,
      }),
      res: (reply: FastifyReply) => ({ statusCode: reply.statusCode }),
      err: errorShape,
    },
  };
}

/**
 * What a logged error keeps: its type, name, code and where it was thrown, never its message or
 * a driver's details. Those can quote data: Postgres says `invalid input syntax for type
 * date: "…"` and puts key values in `detail`; a JSON parser quotes the body it choked on.
 */
export function errorShape(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) return { type: typeof error };
  const { code, routine } = error as Error & { code?: unknown; routine?: unknown };
  return {
    type: error.constructor?.name ?? 'Error',
    name: error.name,
    ...(typeof code === 'string' || typeof code === 'number' ? { code } : {}),
    ...(typeof routine === 'string' ? { routine } : {}),
    // The frames without the first line, which repeats the message.
    ...(error.stack ? { stack: error.stack.split('\n').slice(1).join('\n') } : {}),
  };
}
