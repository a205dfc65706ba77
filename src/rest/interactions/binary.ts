/**
 * Binary over HTTP: bytes streamed into the BlobStore on upload, streamed back on read. The
 * access rule itself lives in the store (src/blob/documents.ts), so Bundle entries get it too;
 * what is here is what only an HTTP request has: a raw body, and an audit trail that names the
 * owning patient even when the read is refused.
 */
import type { Readable } from 'node:stream';
import type { Binary } from 'fhir/r4.js';
import { buildAuditEvent } from '../../audit/event.js';
import { authorize } from '../../auth/authorize.js';
import {
  BlobTooLargeError,
  type BlobContent,
  type BlobStore,
  type StoredBlob,
} from '../../blob/blob-store.js';
import { DocumentStore, newBlobKey, withPrestoredBytes } from '../../blob/documents.js';
import { blobKeyOf, clientView, requireMediaType } from '../../fhir/binary.js';
import { FhirError } from '../../fhir/errors.js';
import { requireId, requireInteraction } from '../../exchange/guards.js';
import { audited, auditFailure, auditInput, type AuditTarget } from '../../exchange/audited.js';
import { resourceResult, type Exchange, type InteractionResult } from '../../exchange/exchange.js';

export interface BinaryDeps {
  blobs: BlobStore;
  /** The largest Binary accepted, in bytes. */
  sizeLimit: number;
}

export interface RawUpload {
  body: Readable;
  /** The request's Content-Type: the Binary's contentType. */
  contentType: string | undefined;
  /** X-Security-Context: the Binary's securityContext. */
  securityContext: string | undefined;
}

function documentStoreOf(ex: Exchange): DocumentStore {
  if (!(ex.store instanceof DocumentStore)) {
    throw new Error('Binary interactions need the document store (src/blob/documents.ts)');
  }
  return ex.store;
}

/** A failed upload, in HTTP terms. The rest of a refused body is not read: close after. */
function uploadError(error: unknown): unknown {
  if (error instanceof BlobTooLargeError) {
    return new FhirError(413, 'too-long', error.message, undefined, { connection: 'close' });
  }
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ECONNRESET') {
    // The client went away mid-body: nobody will read this answer, but it must not be a 500.
    return new FhirError(400, 'structure', 'The request body ended early', undefined, {
      connection: 'close',
    });
  }
  return error;
}

/**
 * POST [base]/Binary or PUT [base]/Binary/id with the bytes as the body. Everything that can
 * refuse the request is checked before a byte is read; the bytes stream into the BlobStore
 * (never buffered, the limit checked as they come) and the Binary is written after. If that
 * write fails, the blob is deleted again.
 */
export async function uploadBinary(
  ex: Exchange,
  deps: BinaryDeps,
  upload: RawUpload,
  id?: string,
): Promise<InteractionResult> {
  const target: AuditTarget = id
    ? { interaction: 'update', type: 'Binary', id }
    : { interaction: 'create', type: 'Binary' };
  const key = newBlobKey();
  let binary: Binary;
  let stored: StoredBlob;
  try {
    requireInteraction('Binary', id ? 'update' : 'create');
    if (id !== undefined) requireId(id);
    authorize(ex.policy, 'Binary', id ? 'update' : 'create');
    const contentType = requireMediaType(upload.contentType, 'Content-Type', 400);
    binary = {
      resourceType: 'Binary',
      ...(id ? { id } : {}),
      contentType,
      ...(upload.securityContext ? { securityContext: { reference: upload.securityContext } } : {}),
    };
    await documentStoreOf(ex).checkWrite(binary, ex.ctx);
    stored = await deps.blobs
      .put(key, upload.body, { contentType, maxBytes: deps.sizeLimit })
      .catch((error: unknown) => {
        throw uploadError(error);
      });
  } catch (error) {
    await auditFailure(ex, target, error);
    throw error;
  }
  const bytes = { key, size: stored.size, sha1Base64: stored.sha1Base64 };
  const toStore = withPrestoredBytes(binary, bytes);
  try {
    return await audited(ex, target, async (ex) => {
      if (!id) {
        const created = await ex.store.create(toStore, ex.ctx);
        return resourceResult(201, created, ex.baseUrl, `Created Binary/${created.id}`);
      }
      const result = await ex.store.update(toStore, ex.ctx);
      const verb = result.created ? 'Created' : 'Updated';
      return resourceResult(
        result.created ? 201 : 200,
        result.resource,
        ex.baseUrl,
        `${verb} Binary/${id}`,
      );
    });
  } catch (error) {
    await deps.blobs.delete(key).catch((failure: unknown) => {
      ex.log?.error({ err: failure, blobKey: key }, 'could not delete the blob of a failed upload');
    });
    throw error;
  }
}

/** A Binary version, readable by the caller, with its bytes opened for reading. */
export interface BinaryRead {
  result: InteractionResult;
  binary: Binary;
  /** Undefined for a Binary stored without bytes. */
  content: BlobContent | undefined;
}

/**
 * read or vread. Every one is audited with the owning patient, refusals too: a refused read
 * still says whose document someone tried to reach (found without the caller's restrictions,
 * and never told to the caller, who gets 404).
 */
export async function readBinary(
  ex: Exchange,
  deps: BinaryDeps,
  id: string,
  versionId?: string,
): Promise<BinaryRead> {
  const target: AuditTarget = { interaction: versionId ? 'vread' : 'read', type: 'Binary', id };
  let read: BinaryRead;
  try {
    requireInteraction('Binary', versionId ? 'vread' : 'read');
    requireId(id);
    authorize(ex.policy, 'Binary', 'read');
    const binary = versionId
      ? await ex.store.vread('Binary', id, versionId, ex.ctx)
      : await ex.store.read('Binary', id, ex.ctx);
    const key = blobKeyOf(binary);
    const content = key ? await deps.blobs.get(key) : undefined;
    if (key && !content) {
      throw new FhirError(410, 'deleted', `The content of Binary/${id} is no longer stored`);
    }
    read = {
      result: resourceResult(200, clientView(binary), ex.baseUrl),
      binary: binary as Binary,
      content,
    };
  } catch (error) {
    await auditFailure(ex, { ...target, ...(versionId ? { versionId } : {}) }, error);
    throw error;
  }
  try {
    // The stored form names the owner (the client's view has it in meta), for the trail.
    const input = auditInput(ex, target, 'success', { ...read.result, resource: read.binary });
    await ex.store.audit(buildAuditEvent(input));
  } catch (error) {
    read.content?.body.destroy();
    throw error;
  }
  return read;
}
