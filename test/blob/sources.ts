/** Request bodies as a BlobStore sees them: streams that end, fail, or never stop. */
import { createHash } from 'node:crypto';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';

const PIECE = 64 * 1024;

/** `data` in 64 KiB pieces, the way a request body arrives. */
export function streamOf(data: Buffer): Readable {
  let offset = 0;
  return new Readable({
    read() {
      if (offset >= data.length) {
        this.push(null);
        return;
      }
      this.push(data.subarray(offset, offset + PIECE));
      offset += PIECE;
    },
  });
}

/** `data` up to `failAt` bytes, then fails with `error` (or closes early when it's undefined). */
export function failingStream(data: Buffer, failAt: number, error?: Error): Readable {
  let offset = 0;
  return new Readable({
    read() {
      if (offset >= failAt) {
        this.destroy(error);
        return;
      }
      const end = Math.min(offset + PIECE, failAt);
      this.push(data.subarray(offset, end));
      offset = end;
    },
  });
}

/** Zeros without end; `pulled()` tells how much anyone read. */
export function endlessStream(): { stream: Readable; pulled(): number } {
  let pulled = 0;
  const piece = Buffer.alloc(PIECE);
  const stream = new Readable({
    read() {
      pulled += piece.length;
      this.push(piece);
    },
  });
  return { stream, pulled: () => pulled };
}

export function sha256Hex(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export function sha1Base64(data: Buffer): string {
  return createHash('sha1').update(data).digest('base64');
}

/** Reads a stream to its end; rejects with its error, keeping what came before in `received`. */
export async function readAll(stream: Readable, received: Buffer[] = []): Promise<Buffer> {
  for await (const chunk of stream) received.push(chunk as Buffer);
  return Buffer.concat(received);
}

/**
 * Serves one HTTP request whose client sends `sentBytes` of a longer declared body and then
 * drops the connection; resolves with how `put(request)` ended (its error, or undefined).
 */
export async function droppedRequest(
  put: (body: Readable) => Promise<unknown>,
  sentBytes: number,
): Promise<unknown> {
  let outcome: Promise<unknown> | undefined;
  const server = createServer((req, res) => {
    outcome = put(req).then(
      () => undefined,
      (error: unknown) => error,
    );
    void outcome.then(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const client = request({
    host: '127.0.0.1',
    port,
    method: 'PUT',
    headers: { 'content-length': String(sentBytes * 2) },
  });
  client.on('error', () => {}); // the drop is the point
  const piece = Buffer.alloc(PIECE);
  for (let sent = 0; sent < sentBytes; sent += PIECE) {
    await new Promise<void>((resolve, reject) =>
      client.write(piece, (error) => (error ? reject(error) : resolve())),
    );
  }
  client.destroy();
  while (!outcome) await new Promise((resolve) => setImmediate(resolve));
  const result = await outcome;
  server.close();
  return result;
}
