/** A real HTTP receiver on loopback for rest-hook tests: records requests, answers as told. */
import { createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
type Tap = Parameters<typeof import('../helpers.js').startTestServer>[0];

export interface Received {
  headers: http.IncomingHttpHeaders;
  body: string;
  at: number;
}

export interface Receiver {
  url: string;
  received: Received[];
  /** What the next requests get: a status, or 'hang' (never answered); then 200. */
  answers: (number | 'hang')[];
  /** How long each answer takes (a slow receiver); 0 unless set. */
  delayMs: number;
  /** Wait until at least n requests arrived (polls briefly; fails the wait after ~10 s). */
  waitFor(n: number): Promise<Received[]>;
  close(): Promise<void>;
}

export async function startReceiver(t: Tap): Promise<Receiver> {
  const received: Received[] = [];
  const answers: (number | 'hang')[] = [];
  const hanging = new Set<http.ServerResponse>();
  const receiver = { delayMs: 0 } as Receiver;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({
        headers: req.headers,
        body: Buffer.concat(chunks).toString(),
        at: Date.now(),
      });
      const answer = answers.shift() ?? 200;
      if (answer === 'hang') {
        hanging.add(res);
        return;
      }
      res.statusCode = answer;
      if (receiver.delayMs > 0) {
        hanging.add(res);
        setTimeout(() => {
          hanging.delete(res);
          res.end();
        }, receiver.delayMs);
      } else res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const close = async () => {
    for (const res of hanging) res.destroy();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  t.teardown(close);
  Object.assign(receiver, {
    url: `http://127.0.0.1:${port}/hook`,
    received,
    answers,
    close,
    async waitFor(n: number) {
      for (let i = 0; i < 1000 && received.length < n; i++)
        await new Promise((r) => setTimeout(r, 10));
      return received;
    },
  });
  return receiver;
}

export function verify(secret: string, received: Received): boolean {
  const expected = `sha256=${createHmac('sha256', secret).update(received.body).digest('hex')}`;
  return received.headers['x-subscription-signature'] === expected;
}
