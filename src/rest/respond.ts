import type { FastifyReply, FastifyRequest } from 'fastify';
import { informational } from '../fhir/outcome.js';
import { parsePrefer } from '../fhir/prefer.js';
import type { InteractionResult } from '../exchange/exchange.js';

/** The query string as FHIR reads it: ordered, repeatable name=value pairs. */
export function queryOf(request: FastifyRequest): URLSearchParams {
  const at = request.url.indexOf('?');
  return new URLSearchParams(at < 0 ? '' : request.url.slice(at + 1));
}

/**
 * Writes an interaction's result as HTTP. Writes honour `Prefer: return=`: the resource
 * (default), nothing, or an OperationOutcome saying what happened.
 */
export function sendResult(
  request: FastifyRequest,
  reply: FastifyReply,
  result: InteractionResult,
  write = false,
) {
  if (result.etag) reply.header('etag', result.etag);
  if (result.lastModified) {
    reply.header('last-modified', new Date(result.lastModified).toUTCString());
  }
  if (result.location) reply.header('location', result.location);
  reply.code(result.status);
  const preference = write ? parsePrefer(request.headers.prefer).return : 'representation';
  // Stored JSON text (a read's fast path): no serialisation, so no preSerialization hook;
  // read.ts only takes that path for what no hook would change.
  if (result.json !== undefined && !write) return reply.send(result.json);
  if (!result.resource || preference === 'minimal')
    return reply.removeHeader('content-type').send();
  if (preference === 'OperationOutcome') return reply.send(informational(result.summary ?? 'Done'));
  return reply.send(result.resource);
}
