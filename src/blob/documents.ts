/**
 * The FhirStore the REST layer uses, around the configured one: document bytes go to the
 * BlobStore on every write path (REST, batch, transaction entries), and Binary access follows
 * the document it belongs to on every read path. Keeping both here, at the store, means no
 * route, Bundle entry or operation can store a document inline or read one around the rule.
 *
 * - DocumentReference create/update with `content.attachment.data`: the bytes become a Binary
 *   (securityContext → this DocumentReference, owner = its subject), and the attachment keeps
 *   `url = Binary/{id}`, `size` and `hash` (SHA-1, base64) instead of `data`. Both resources
 *   are written in one transaction.
 * - Binary create/update with `data`: the bytes go to the BlobStore (see src/fhir/binary.ts
 *   for what the stored Binary carries). The owner is recorded from securityContext, which the
 *   caller must be able to read (403 otherwise).
 * - Binary read/vread/update/delete (the rule is in binary-access.ts): besides the Binary
 *   grant (enforced by the store through the owner's compartment), the caller must be able to
 *   read what securityContext names, and a DocumentReference must still have the recorded
 *   owner as subject; else 404.
 * - Blobs written inside a transaction that then fails (validation of a later entry, 403, a
 *   database error, a failed commit) are deleted, best-effort, when it has rolled back.
 */
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Attachment, Binary, DocumentReference, Resource } from 'fhir/r4.js';
import type { Access } from '../auth/policy.js';
import {
  blobKeyOf,
  decodeBase64,
  requireMediaType,
  storedBinary,
  type StoredBytes,
} from '../fhir/binary.js';
import { FhirError } from '../fhir/errors.js';
import type { PagePosition, SearchQuery } from '../search/query.js';
import type { FhirStore, HistoryQuery, RequestContext } from '../store/store.js';
import {
  binaryNotFound,
  contextOwner,
  isFhirError,
  mayReach,
  patientOf,
  requireUnrestricted,
  unrestrictedOn,
} from './binary-access.js';
import { BlobTooLargeError, type BlobStore } from './blob-store.js';
import type { BlobLog } from './open.js';

export interface DocumentStoreOptions {
  blobs: BlobStore;
  /** The largest Binary accepted, in bytes. */
  sizeLimit: number;
  /** The public base, to read absolute references to this server (read when needed). */
  baseUrl: () => string;
  log?: BlobLog;
}

/**
 * Marks a Binary whose bytes a route already streamed into the BlobStore: the store records
 * them instead of looking for `data`. A symbol, so no JSON body can carry it.
 */
const PRESTORED = Symbol('prestored bytes');
type Prestored = Binary & { [PRESTORED]?: StoredBytes };

export function withPrestoredBytes(binary: Binary, bytes: StoredBytes): Binary {
  return Object.assign({ ...binary }, { [PRESTORED]: bytes });
}

/** A new key for every write of bytes: history versions keep theirs. */
export const newBlobKey = () => `binary/${randomUUID()}`;

export class DocumentStore implements FhirStore {
  /**
   * A patient's compartment, when the inner store can list one. Its Binaries aren't listed (the
   * read rule above can't be put into its SQL), so asking for them needs access to every one.
   */
  readonly compartment?: FhirStore['compartment'];

  constructor(
    private readonly inner: FhirStore,
    private readonly options: DocumentStoreOptions,
    /** Inside a transaction: the blobs it wrote, deleted if it rolls back. */
    private readonly written?: string[],
  ) {
    const compartment = inner.compartment?.bind(inner);
    if (compartment) {
      this.compartment = (query, ctx) => {
        if ([...query.types, ...query.referenced].includes('Binary')) {
          requireUnrestricted(ctx, 'search', 'Listing Binaries');
        }
        return compartment(query, ctx);
      };
    }
  }

  // ---- transactions and blob cleanup ----

  async transaction<T>(work: (tx: FhirStore) => Promise<T>): Promise<T> {
    if (this.written) {
      return this.inner.transaction((tx) =>
        work(new DocumentStore(tx, this.options, this.written)),
      );
    }
    const written: string[] = [];
    try {
      return await this.inner.transaction((tx) =>
        work(new DocumentStore(tx, this.options, written)),
      );
    } catch (error) {
      await this.discard(written);
      throw error;
    }
  }

  private inTransaction<T>(work: (tx: DocumentStore) => Promise<T>): Promise<T> {
    return this.written ? work(this) : this.transaction((tx) => work(tx as DocumentStore));
  }

  /** Best-effort: a blob left behind is unreachable (no Binary names it) and costs only space. */
  async discard(keys: string[]): Promise<void> {
    for (const key of keys.splice(0)) {
      await this.options.blobs.delete(key).catch((error: unknown) => {
        this.options.log?.warn({ err: error, blobKey: key }, 'could not delete an orphan blob');
      });
    }
  }

  private async upload(bytes: Buffer, contentType: string): Promise<StoredBytes> {
    const key = newBlobKey();
    this.written!.push(key);
    try {
      const stored = await this.options.blobs.put(key, Readable.from([bytes]), {
        contentType,
        maxBytes: this.options.sizeLimit,
      });
      return { key, size: stored.size, sha1Base64: stored.sha1Base64 };
    } catch (error) {
      if (error instanceof BlobTooLargeError) {
        throw new FhirError(413, 'too-long', error.message);
      }
      throw error;
    }
  }

  // ---- who a Binary belongs to, and who may reach it (binary-access.ts) ----

  /** The owner a new Binary version records; 403 when the caller can't read its context. */
  contextOwner(binary: Binary, ctx: RequestContext): Promise<string | undefined> {
    return contextOwner(this.inner, binary, ctx, this.options.baseUrl());
  }

  mayReach(binary: Binary, ctx: RequestContext, access: Access): Promise<boolean> {
    return mayReach(this.inner, binary, ctx, access, this.options.baseUrl());
  }

  private async requireReach(binary: Binary, ctx: RequestContext, access: Access) {
    if (!(await this.mayReach(binary, ctx, access))) throw binaryNotFound(binary.id ?? '');
  }

  /** The current Binary, when the caller may read it; undefined when deleted or never made. */
  private async currentForRead(id: string, ctx: RequestContext) {
    try {
      const current = (await this.inner.read('Binary', id, ctx)) as Binary;
      return (await this.mayReach(current, ctx, 'read')) ? current : undefined;
    } catch (error) {
      if (isFhirError(error, 404, 410)) return undefined;
      throw error;
    }
  }

  /** The current Binary, when the caller may change it; undefined when there is none yet. */
  private async currentForWrite(id: string, ctx: RequestContext, access: Access) {
    let current: Resource;
    try {
      current = await this.inner.read('Binary', id, { ...ctx, access: 'unrestricted' });
    } catch (error) {
      if (isFhirError(error, 404, 410)) return undefined;
      throw error;
    }
    if (!(await this.mayReach(current as Binary, ctx, access))) throw binaryNotFound(id);
    return current as Binary;
  }

  /**
   * What a write of `binary` will be refused for, checked before any byte is read: an
   * existing Binary the caller can't reach (404), a context the caller can't read (403).
   */
  async checkWrite(binary: Binary, ctx: RequestContext): Promise<void> {
    if (binary.id !== undefined) await this.currentForWrite(binary.id, ctx, 'update');
    await this.contextOwner(binary, ctx);
  }

  // ---- writes ----

  /** The Binary to store for a client's one: bytes moved out, owner recorded. */
  private async binaryToStore(resource: Resource, ctx: RequestContext): Promise<Binary> {
    const binary = resource as Prestored;
    requireMediaType(binary.contentType, 'Binary.contentType');
    const owner = await this.contextOwner(binary, ctx);
    let bytes = binary[PRESTORED];
    if (!bytes && binary.data !== undefined) {
      bytes = await this.upload(decodeBase64(binary.data, 'Binary.data'), binary.contentType);
    }
    return storedBinary(binary, bytes, owner);
  }

  /**
   * Phase one of a DocumentReference write: each inline attachment's bytes go to the
   * BlobStore under a Binary id chosen now; the attachment points at it instead.
   */
  private async moveAttachments(resource: Resource) {
    const document = resource as DocumentReference;
    const moved: { id: string; contentType: string; bytes: StoredBytes }[] = [];
    const content = [];
    for (const [index, item] of (document.content ?? []).entries()) {
      const attachment: Attachment | undefined = item?.attachment;
      if (attachment?.data === undefined) {
        content.push(item);
        continue;
      }
      const at = `DocumentReference.content[${index}].attachment`;
      const contentType =
        attachment.contentType === undefined
          ? 'application/octet-stream'
          : requireMediaType(attachment.contentType, `${at}.contentType`);
      const bytes = await this.upload(decodeBase64(attachment.data, `${at}.data`), contentType);
      const id = randomUUID();
      moved.push({ id, contentType, bytes });
      const { data: _data, ...rest } = attachment;
      content.push({
        ...item,
        attachment: { ...rest, url: `Binary/${id}`, size: bytes.size, hash: bytes.sha1Base64 },
      });
    }
    return { resource: { ...document, content } as Resource, moved };
  }

  /** Runs a write, moving inline content first and creating the Binaries after, in one tx. */
  private write<T>(
    resource: Resource,
    ctx: RequestContext,
    mode: 'create' | 'conditional-create' | 'update' | 'conditional-update',
    run: (store: FhirStore, resource: Resource) => Promise<T>,
  ): Promise<T> {
    const { resourceType } = resource;
    if (resourceType === 'Binary') {
      if (mode === 'conditional-update') requireUnrestricted(ctx, 'update');
      // Its match would be answered without the read rule (binary-access.ts).
      if (mode === 'conditional-create') {
        requireUnrestricted(ctx, 'search', 'Conditional create of Binary');
      }
      return this.inTransaction(async (tx) => {
        if (mode === 'update' && resource.id !== undefined) {
          await tx.currentForWrite(resource.id, ctx, 'update');
        }
        const toStore = await tx.binaryToStore(resource, ctx);
        const result = await run(tx.inner, toStore);
        const key = blobKeyOf(toStore);
        const unused = mode === 'conditional-create' && !(result as { created: boolean }).created;
        if (unused && key && !(resource as Prestored)[PRESTORED]) await tx.discard([key]);
        return result;
      });
    }
    const inline = (resource as DocumentReference).content?.some(
      (item) => item?.attachment?.data !== undefined,
    );
    if (resourceType !== 'DocumentReference' || !inline) return run(this.inner, resource);
    return this.inTransaction(async (tx) => {
      const { resource: toStore, moved } = await tx.moveAttachments(resource);
      const result = await run(tx.inner, toStore);
      const stored = (result as { resource?: Resource }).resource ?? (result as Resource);
      if (mode === 'conditional-create' && (result as { created?: boolean }).created === false) {
        // A conditional create matched an existing document: these bytes are nobody's.
        await tx.discard(moved.map((m) => m.bytes.key));
        return result;
      }
      const owner = patientOf((stored as DocumentReference).subject, tx.options.baseUrl());
      for (const { id, contentType, bytes } of moved) {
        const binary: Binary = {
          resourceType: 'Binary',
          contentType,
          securityContext: { reference: `DocumentReference/${stored.id}` },
        };
        // The caller was authorized for the document; its bytes come with it.
        await tx.inner.create(
          storedBinary(binary, bytes, owner),
          { ...ctx, access: 'unrestricted' },
          id,
        );
      }
      return result;
    });
  }

  create(resource: Resource, ctx: RequestContext, id?: string): Promise<Resource> {
    return this.write(resource, ctx, 'create', (store, r) => store.create(r, ctx, id));
  }

  conditionalCreate(...[resource, criteria, ctx]: Parameters<FhirStore['conditionalCreate']>) {
    return this.write(resource, ctx, 'conditional-create', (store, r) =>
      store.conditionalCreate(r, criteria, ctx),
    );
  }

  conditionalUpdate(...[resource, criteria, ctx]: Parameters<FhirStore['conditionalUpdate']>) {
    return this.write(resource, ctx, 'conditional-update', (store, r) =>
      store.conditionalUpdate(r, criteria, ctx),
    );
  }

  update(resource: Resource, ctx: RequestContext, ifMatch?: string) {
    return this.write(resource, ctx, 'update', (store, r) => store.update(r, ctx, ifMatch));
  }

  async delete(type: string, id: string, ctx: RequestContext) {
    if (type === 'Binary') await this.currentForWrite(id, ctx, 'delete');
    return this.inner.delete(type, id, ctx);
  }

  conditionalDelete(criteria: SearchQuery, ctx: RequestContext) {
    if (criteria.type === 'Binary') requireUnrestricted(ctx, 'delete');
    return this.inner.conditionalDelete(criteria, ctx);
  }

  // ---- reads ----

  async read(type: string, id: string, ctx: RequestContext): Promise<Resource> {
    const resource = await this.inner.read(type, id, ctx);
    if (type === 'Binary') await this.requireReach(resource as Binary, ctx, 'read');
    return resource;
  }

  /** A Binary keeps its read rule (requireReach), so it never takes the one-statement path. */
  async readAudited(...[type, id, ctx, event]: Parameters<NonNullable<FhirStore['readAudited']>>) {
    if (type === 'Binary' || !this.inner.readAudited) return undefined;
    return this.inner.readAudited(type, id, ctx, event);
  }

  async vread(type: string, id: string, versionId: string, ctx: RequestContext) {
    const resource = await this.inner.vread(type, id, versionId, ctx);
    if (type === 'Binary') await this.requireReach(resource as Binary, ctx, 'read');
    return resource;
  }

  /**
   * A Binary is reached only as a Binary read is (binary-access.ts), and that rule can't be
   * put into a search's SQL: so searching Binary and listing its type history need access to
   * every Binary, as conditional writes do; a Binary an `_include`/`_revinclude` reaches is
   * returned only when it passes the read rule; one Binary's history follows its read.
   */
  async search(query: SearchQuery, ctx: RequestContext, position?: PagePosition) {
    if (query.type === 'Binary') requireUnrestricted(ctx, 'search', 'Searching Binary');
    const result = await this.inner.search(query, ctx, position);
    if (!result.included.some((r) => r.resourceType === 'Binary')) return result;
    const included: Resource[] = [];
    for (const resource of result.included) {
      if (
        resource.resourceType !== 'Binary' ||
        (await this.mayReach(resource as Binary, ctx, 'read'))
      )
        included.push(resource);
    }
    return { ...result, included };
  }

  async history(query: HistoryQuery, ctx: RequestContext) {
    if (unrestrictedOn(ctx, 'read')) return this.inner.history(query, ctx);
    if (query.type === 'Binary' && query.id === undefined) {
      requireUnrestricted(ctx, 'read', 'The history of every Binary');
    }
    if (query.type === 'Binary' && query.id !== undefined) {
      const current = await this.currentForRead(query.id, ctx);
      if (!current) throw binaryNotFound(query.id);
    }
    const scoped = query.type ? query : { ...query, excludeTypes: ['Binary'] };
    return this.inner.history(scoped, ctx);
  }

  audit(...args: Parameters<FhirStore['audit']>) {
    return this.inner.audit(...args);
  }

  sharedSecret(name: string) {
    return this.inner.sharedSecret(name);
  }

  ping() {
    return this.inner.ping();
  }

  close() {
    return this.inner.close();
  }
}

/** The store with documents kept in `options.blobs` (see the top of this file). */
export function documentStore(inner: FhirStore, options: DocumentStoreOptions): FhirStore {
  return new DocumentStore(inner, options);
}

/** The key of a stored Binary version's bytes; undefined when it has none. */
