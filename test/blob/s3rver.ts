/**
 * A real S3 API on loopback for tests: s3rver, in a temporary directory, with one bucket.
 *
 * s3rver 3.7 implements multipart uploads except AbortMultipartUpload (it answers 405) and
 * ListMultipartUploads (501). Tests must see whether a failed put left an upload behind, so a
 * middleware put in front of s3rver's own implements both over s3rver's storage layout
 * (`<dir>/<bucket>/._S3rver_uploads/<uploadId>/`, with the object key in its `key` file).
 * Those two requests are not signature-checked; everything else is s3rver's.
 */
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

interface KoaContext {
  method: string;
  path: string;
  query: Record<string, string | string[] | undefined>;
  status: number;
  type: string;
  body: unknown;
}
type KoaMiddleware = (ctx: KoaContext, next: () => Promise<void>) => Promise<void>;

interface S3rverInstance {
  middleware: KoaMiddleware[];
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
}

type S3rverConstructor = new (options: {
  port: number;
  address: string;
  silent: boolean;
  directory: string;
  configureBuckets: { name: string }[];
}) => S3rverInstance;

const S3rver = createRequire(import.meta.url)('s3rver') as S3rverConstructor;

type Tap = { teardown(fn: () => unknown): void };

export interface RunningS3 {
  /** http://127.0.0.1:PORT — path-style addressing. */
  endpoint: string;
  bucket: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** Where s3rver keeps the buckets. */
  directory: string;
  close(): Promise<void>;
}

const UPLOADS = '._S3rver_uploads';

function xmlEscape(text: string): string {
  return text.replace(
    /[<>&'"]/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c] ?? c,
  );
}

function s3Error(ctx: KoaContext, status: number, code: string, message: string): void {
  ctx.status = status;
  ctx.type = 'application/xml';
  ctx.body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`;
}

function multipartUploads(directory: string): KoaMiddleware {
  return async (ctx, next) => {
    const [bucket = '', ...keyParts] = ctx.path.split('/').filter((part) => part !== '');
    const uploadId = ctx.query.uploadId;
    const uploads = join(directory, bucket, UPLOADS);
    if (!/^[a-z0-9.-]+$/.test(bucket)) return next();
    if (ctx.method === 'DELETE' && keyParts.length > 0 && typeof uploadId === 'string') {
      if (!/^[0-9a-f]+$/.test(uploadId)) return s3Error(ctx, 404, 'NoSuchUpload', uploadId);
      const dir = join(uploads, uploadId);
      if (!(await stat(dir).catch(() => undefined))) {
        return s3Error(ctx, 404, 'NoSuchUpload', 'The specified upload does not exist.');
      }
      await rm(dir, { recursive: true, force: true });
      ctx.status = 204;
      return;
    }
    if (ctx.method === 'GET' && keyParts.length === 0 && 'uploads' in ctx.query) {
      const ids = await readdir(uploads).catch(() => [] as string[]);
      const entries = await Promise.all(
        ids.map(async (id) => {
          const key = await readFile(join(uploads, id, 'key'), 'utf8');
          return `<Upload><Key>${xmlEscape(key)}</Key><UploadId>${id}</UploadId></Upload>`;
        }),
      );
      ctx.status = 200;
      ctx.type = 'application/xml';
      ctx.body =
        '<?xml version="1.0" encoding="UTF-8"?>\n<ListMultipartUploadsResult>' +
        `<Bucket>${bucket}</Bucket><IsTruncated>false</IsTruncated>${entries.join('')}` +
        '</ListMultipartUploadsResult>';
      return;
    }
    return next();
  };
}

/** Starts s3rver on 127.0.0.1 (a free port) with `bucket`; stopped and removed at teardown. */
export async function startS3rver(t: Tap, bucket = 'telefhir-blobs'): Promise<RunningS3> {
  const directory = mkdtempSync(join(tmpdir(), 'telefhir-s3rver-'));
  const server = new S3rver({
    port: 0,
    address: '127.0.0.1',
    silent: true,
    directory,
    configureBuckets: [{ name: bucket }],
  });
  server.middleware.unshift(multipartUploads(directory));
  const { port } = await server.run();
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await server.close();
    rmSync(directory, { recursive: true, force: true });
  };
  t.teardown(close);
  return {
    endpoint: `http://127.0.0.1:${port}`,
    bucket,
    region: 'us-east-1',
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    directory,
    close,
  };
}
