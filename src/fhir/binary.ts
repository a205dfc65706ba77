/**
 * Binary as telefhir stores it: never with `data`. The bytes are in the BlobStore, and the
 * stored Binary carries what finds and guards them as extensions in `meta.extension` (R4's
 * Binary is a plain Resource without `extension`, but its Meta is an Element, so this is valid
 * R4 that any FHIR server, HealthLake included, stores as given):
 *
 * - blob-key (valueString): the BlobStore key of THIS version's bytes. Every write of bytes
 *   makes a new key, so history versions keep theirs and deleting a Binary or its
 *   DocumentReference leaves the blob until retention purges that version (`npm run
 *   retention:purge`, $expunge). Clients never see it (`clientView`).
 * - binary-patient (valueReference): the patient the Binary belongs to, recorded at creation
 *   from its securityContext. It puts the Binary in that patient's compartment
 *   (src/auth/compartment.ts) and is what `Binary?patient=` searches.
 * - binary-size (valueInteger) and binary-hash (valueBase64Binary, SHA-1): the bytes' size and
 *   hash, as an Attachment would state them.
 */
import type { Binary, Extension, Resource } from 'fhir/r4.js';
import type { ValidationIssue } from '../validation/validator.js';
import { FhirError } from './errors.js';

const BASE = 'http://telefhir.dev/fhir/StructureDefinition';
export const BLOB_KEY_URL = `${BASE}/blob-key`;
export const BINARY_PATIENT_URL = `${BASE}/binary-patient`;
export const BINARY_SIZE_URL = `${BASE}/binary-size`;
export const BINARY_HASH_URL = `${BASE}/binary-hash`;
/** Written only by the server: a client's copies are dropped on every write. */
const SERVER_EXTENSIONS = new Set([
  BLOB_KEY_URL,
  BINARY_PATIENT_URL,
  BINARY_SIZE_URL,
  BINARY_HASH_URL,
]);

/**
 * RFC 9110 media type: `type/subtype` and `; name=value` parameters, tokens or quoted strings,
 * no control characters. A contentType is sent back as the Content-Type header of every read,
 * so anything Node would refuse there (a newline) must be refused when it is written.
 */
const TOKEN = "[A-Za-z0-9!#$%&'*+.^_`|~-]+";
const QUOTED = '"(?:[^"\\\\\\x00-\\x1f\\x7f]|\\\\[\\x20-\\x7e])*"';
const MEDIA_TYPE = new RegExp(
  `^${TOKEN}/${TOKEN}(?:[ \\t]*;[ \\t]*${TOKEN}=(?:${TOKEN}|${QUOTED}))*$`,
);

export function isMediaType(value: unknown): value is string {
  return typeof value === 'string' && value.length <= 255 && MEDIA_TYPE.test(value);
}

/** 400 for a header, 422 for a resource element; the value itself is never echoed. */
export function requireMediaType(value: unknown, where: string, status = 422): string {
  if (!isMediaType(value)) {
    throw new FhirError(
      status,
      'value',
      `${where} must be a media type such as application/pdf (type/subtype and parameters)`,
      where,
    );
  }
  return value;
}

/**
 * Strict base64 (RFC 4648, padding required, whitespace between groups tolerated as R4's
 * base64Binary allows). Decoding with Buffer alone would silently skip bad characters.
 */
export function decodeBase64(value: unknown, where: string): Buffer {
  const compact = typeof value === 'string' ? value.replace(/\s+/g, '') : undefined;
  if (
    compact === undefined ||
    compact.length % 4 !== 0 ||
    !/^[A-Za-z0-9+/]*={0,2}$/.test(compact)
  ) {
    // Never the value: it is a patient's document, and a 422 ends up in logs and client UIs.
    throw new FhirError(422, 'value', `${where} is not valid base64`, where);
  }
  return Buffer.from(compact, 'base64');
}

/** Binary as stored: R4's, with the extensions above in meta.extension. */
export type StoredBinary = Binary;

/** The first meta extension with `url`, if any. */
function extensionOf(resource: Resource | null | undefined, url: string): Extension | undefined {
  return resource?.meta?.extension?.find((extension) => extension.url === url);
}

export function blobKeyOf(binary: Resource | null | undefined): string | undefined {
  return extensionOf(binary, BLOB_KEY_URL)?.valueString;
}

/** `Patient/id` of the recorded owner, or undefined for a context-less Binary. */
export function ownerOf(binary: Resource | null | undefined): string | undefined {
  return extensionOf(binary, BINARY_PATIENT_URL)?.valueReference?.reference;
}

export interface StoredBytes {
  key: string;
  size: number;
  sha1Base64: string;
}

/**
 * The Binary to store: no data, no client-written server extensions, and the server's own
 * (the bytes' key, size and hash when there are bytes; the owner when there is one).
 */
export function storedBinary(
  binary: Binary,
  bytes: StoredBytes | undefined,
  owner: string | undefined,
): StoredBinary {
  const { data: _data, meta, ...rest } = binary;
  const kept = (meta?.extension ?? []).filter((e) => !SERVER_EXTENSIONS.has(e.url));
  const ours: Extension[] = [];
  if (bytes) {
    ours.push({ url: BLOB_KEY_URL, valueString: bytes.key });
    ours.push({ url: BINARY_SIZE_URL, valueInteger: bytes.size });
    ours.push({ url: BINARY_HASH_URL, valueBase64Binary: bytes.sha1Base64 });
  }
  if (owner) ours.push({ url: BINARY_PATIENT_URL, valueReference: { reference: owner } });
  const extension = [...kept, ...ours];
  const { extension: _clients, ...metaRest } = meta ?? {};
  const stored = { ...metaRest, ...(extension.length ? { extension } : {}) };
  return { ...rest, ...(Object.keys(stored).length ? { meta: stored } : {}) };
}

/** What a client sees of a stored Binary: everything but the blob key. */
export function clientView<T extends Resource>(resource: T): T {
  const extension = resource.meta?.extension;
  if (resource.resourceType !== 'Binary' || !extension?.some((e) => e.url === BLOB_KEY_URL)) {
    return resource;
  }
  const shown = extension.filter((e) => e.url !== BLOB_KEY_URL);
  const { extension: _all, ...meta } = resource.meta!;
  return { ...resource, meta: { ...meta, ...(shown.length ? { extension: shown } : {}) } };
}

/**
 * The validator quotes a bad value in its message, which for base64Binary (Binary.data,
 * Attachment.data) would put part of a document into a 422 and the logs. Those issues keep
 * their location and lose the value.
 */
export function withoutQuotedData(issues: ValidationIssue[]): ValidationIssue[] {
  return issues.map((issue) =>
    /(^|\.)data(\[\d+\])?$/.test(issue.expression) || /base64Binary/.test(issue.diagnostics)
      ? { ...issue, diagnostics: `${issue.expression} is not a valid value (not shown)` }
      : issue,
  );
}
