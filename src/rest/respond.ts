import type { Resource } from 'fhir/r4.js';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { informational } from '../fhir/outcome.js';
import { parsePrefer } from '../fhir/prefer.js';

export const etag = (versionId: string) => `W/"${versionId}"`;

/** Version-aware headers of one stored resource. */
export function versionHeaders(reply: FastifyReply, resource: Resource) {
  const meta = resource.meta ?? {};
  if (meta.versionId) reply.header('etag', etag(meta.versionId));
  if (meta.lastUpdated) reply.header('last-modified', new Date(meta.lastUpdated).toUTCString());
}

export function versionUrl(baseUrl: string, resource: Resource): string {
  return `${baseUrl}/${resource.resourceType}/${resource.id}/_history/${resource.meta?.versionId}`;
}

/**
 * Answers a write with the body `Prefer: return=` asks for: the resource (default), nothing,
 * or an OperationOutcome saying what happened.
 */
export function sendWritten(
  request: FastifyRequest,
  reply: FastifyReply,
  status: number,
  resource: Resource,
  summary: string,
) {
  versionHeaders(reply, resource);
  if (status === 201) reply.header('location', versionUrl(request.server.config.baseUrl, resource));
  reply.code(status);
  switch (parsePrefer(request.headers.prefer).return) {
    case 'minimal':
      return reply.removeHeader('content-type').send();
    case 'OperationOutcome':
      return reply.send(informational(summary));
    default:
      return reply.send(resource);
  }
}
