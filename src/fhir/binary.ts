/**
 * Binary as telefhir stores it: never with `data`. The bytes are in the BlobStore, and the
 * stored Binary carries what finds and guards them as top-level extensions (R4's Binary is a
 * plain Resource without `extension`; the stored form has one anyway, as the purge and $expunge
 * read it, and clients get these in `meta.extension` instead, which R4 allows):
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

/** Binary as stored: R4's, plus the extensions above. */
export type StoredBinary = Binary & { extension?: Extension[] };

/** The first extension with `url`, if any. */
function extensionOf(resource: Resource, url: string): Extension | undefined {
  return (resource as StoredBinary).extension?.find((extension) => extension.url === url);
}

export function blobKeyOf(binary: Resource): string | undefined {
  return extensionOf(binary, BLOB_KEY_URL)?.valueString;
}

/** `Patient/id` of the recorded owner, or undefined for a context-less Binary. */
export function ownerOf(binary: Resource): string | undefined {
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
  const { data: _data, extension, meta, ...rest } = binary as StoredBinary;
  const kept = (extension ?? []).filter((e) => !SERVER_EXTENSIONS.has(e.url));
  const metaExtensions = meta?.extension?.filter((e) => !SERVER_EXTENSIONS.has(e.url));
  const keptMeta = meta && { ...meta, extension: metaExtensions };
  if (keptMeta && !keptMeta.extension?.length) delete keptMeta.extension;
  const ours: Extension[] = [];
  if (bytes) {
    ours.push({ url: BLOB_KEY_URL, valueString: bytes.key });
    ours.push({ url: BINARY_SIZE_URL, valueInteger: bytes.size });
    ours.push({ url: BINARY_HASH_URL, valueBase64Binary: bytes.sha1Base64 });
  }
  if (owner) ours.push({ url: BINARY_PATIENT_URL, valueReference: { reference: owner } });
  const all = [...kept, ...ours];
  return {
    ...rest,
    ...(keptMeta && Object.keys(keptMeta).length ? { meta: keptMeta } : {}),
    ...(all.length ? { extension: all } : {}),
  };
}

/**
 * What a client sees of a stored Binary: no blob key, and the other server extensions in
 * `meta.extension`, where R4 lets a Binary carry them.
 */
export function clientView<T extends Resource>(resource: T): T {
  const { extension, ...rest } = resource as unknown as StoredBinary;
  if (resource.resourceType !== 'Binary' || !extension) return resource;
  const shown = extension.filter((e) => e.url !== BLOB_KEY_URL);
  const meta = { ...rest.meta, extension: [...(rest.meta?.extension ?? []), ...shown] };
  if (!meta.extension.length) delete (meta as { extension?: unknown }).extension;
  return { ...rest, ...(Object.keys(meta).length ? { meta } : {}) } as unknown as T;
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
