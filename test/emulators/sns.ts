import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifySigV4 } from './sigv4.js';

/**
 * Amazon SNS's Publish on loopback, speaking the awsQuery protocol the installed
 * @aws-sdk/client-sns uses (a form-encoded POST to `/` with Action and Version; XML answers,
 * errors as <ErrorResponse>), and refusing — as AWS does — any request whose SigV4 signature
 * (signing name `sns`) does not verify. Published messages are kept in this process for tests
 * to read: it is a test double, not part of the server.
 */

export interface PublishedMessage {
  messageId: string;
  phoneNumber?: string;
  topicArn?: string;
  message: string;
  attributes: Record<string, string>;
  deduplicationId?: string;
  groupId?: string;
}

export type SnsFault = 'throttle' | 'internal';

export interface SnsEmulator {
  endpoint: string;
  /** Accepted messages, in order; a FIFO duplicate within five minutes is not added. */
  messages: PublishedMessage[];
  /** Why each refused request was refused (signature or parameter), in order. */
  rejections: string[];
  /** Publishes that passed the signature check (duplicates and faults included). */
  calls: number;
  failNext(count: number, fault: SnsFault): void;
  stop(): Promise<void>;
}

const NS = 'http://sns.amazonaws.com/doc/2010-03-31/';
const E164 = /^\+[1-9]\d{6,14}$/;
const TOPIC_ARN = /^arn:aws[\w-]*:sns:[\w-]+:\d{12}:[\w-]{1,256}(\.fifo)?$/;

const xmlEscape = (s: string) =>
  s.replace(
    /[<>&'"]/g,
    (c) => `&${{ '<': 'lt', '>': 'gt', '&': 'amp', "'": 'apos', '"': 'quot' }[c]};`,
  );

export async function startSnsEmulator(options: {
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  region: string;
}): Promise<SnsEmulator> {
  const messages: PublishedMessage[] = [];
  const rejections: string[] = [];
  const faults: SnsFault[] = [];
  const dedup = new Map<string, { id: string; at: number }>();
  const state = { calls: 0 };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) =>
      error(res, 500, 'Receiver', 'InternalError', String(err)),
    );
  });

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const verdict = await verifySigV4(
      {
        method: req.method ?? 'GET',
        path: q < 0 ? url : url.slice(0, q),
        query: q < 0 ? '' : url.slice(q + 1),
        headers: req.headers,
        body,
      },
      { service: 'sns', region: options.region, credentials: options.credentials },
    );
    if (!verdict.ok) {
      rejections.push(verdict.reason);
      const code =
        verdict.code === 'InvalidSignatureException' ? 'SignatureDoesNotMatch' : verdict.code;
      return error(res, 403, 'Sender', code, verdict.reason);
    }
    if (
      req.method !== 'POST' ||
      req.headers['content-type'] !== 'application/x-www-form-urlencoded'
    ) {
      rejections.push('not a form POST');
      return error(res, 400, 'Sender', 'InvalidAction', 'awsQuery requests are form POSTs');
    }
    const form = new URLSearchParams(body.toString('utf8'));
    if (form.get('Action') !== 'Publish' || form.get('Version') !== '2010-03-31') {
      rejections.push(`unsupported action ${form.get('Action')}`);
      return error(res, 400, 'Sender', 'InvalidAction', 'only Publish (2010-03-31) is emulated');
    }
    state.calls++;
    const fault = faults.shift();
    if (fault === 'throttle') return error(res, 400, 'Sender', 'Throttling', 'Rate exceeded');
    if (fault === 'internal') return error(res, 500, 'Receiver', 'InternalError', 'injected');
    publish(res, form);
  }

  function publish(res: ServerResponse, form: URLSearchParams) {
    const invalid = (message: string) => {
      rejections.push(message);
      error(res, 400, 'Sender', 'InvalidParameter', message);
    };
    const message = form.get('Message');
    const phoneNumber = form.get('PhoneNumber') ?? undefined;
    const topicArn = form.get('TopicArn') ?? undefined;
    if (!message) return invalid('Invalid parameter: Message');
    if (Boolean(phoneNumber) === Boolean(topicArn) || form.get('TargetArn')) {
      return invalid('Invalid parameter: exactly one of PhoneNumber or TopicArn');
    }
    if (phoneNumber && !E164.test(phoneNumber)) return invalid('Invalid parameter: PhoneNumber');
    if (topicArn && !TOPIC_ARN.test(topicArn)) return invalid('Invalid parameter: TopicArn');
    const attributes: Record<string, string> = {};
    for (let i = 1; form.has(`MessageAttributes.entry.${i}.Name`); i++) {
      const prefix = `MessageAttributes.entry.${i}`;
      const type = form.get(`${prefix}.Value.DataType`);
      const value = form.get(`${prefix}.Value.StringValue`);
      if (type !== 'String' || value === null) return invalid(`Invalid attribute ${i}`);
      attributes[form.get(`${prefix}.Name`)!] = value;
    }
    const fifo = topicArn?.endsWith('.fifo') ?? false;
    const deduplicationId = form.get('MessageDeduplicationId') ?? undefined;
    const groupId = form.get('MessageGroupId') ?? undefined;
    if (fifo && (!deduplicationId || !groupId)) {
      return invalid(
        'Invalid parameter: FIFO topics need MessageGroupId and MessageDeduplicationId',
      );
    }
    if (!fifo && (deduplicationId || groupId)) {
      return invalid('Invalid parameter: MessageGroupId is for FIFO topics only');
    }
    // FIFO topics drop a repeated deduplication id for five minutes, answering as before.
    if (fifo) {
      const seen = dedup.get(`${topicArn}\n${deduplicationId}`);
      if (seen && Date.now() - seen.at < 5 * 60_000) return ok(res, seen.id);
    }
    const messageId = randomUUID();
    if (fifo) dedup.set(`${topicArn}\n${deduplicationId}`, { id: messageId, at: Date.now() });
    messages.push({
      messageId,
      ...(phoneNumber ? { phoneNumber } : {}),
      ...(topicArn ? { topicArn } : {}),
      message,
      attributes,
      ...(deduplicationId ? { deduplicationId } : {}),
      ...(groupId ? { groupId } : {}),
    });
    ok(res, messageId);
  }

  function ok(res: ServerResponse, messageId: string) {
    send(
      res,
      200,
      `<PublishResponse xmlns="${NS}"><PublishResult><MessageId>${messageId}</MessageId></PublishResult>` +
        `<ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></PublishResponse>`,
    );
  }

  function error(res: ServerResponse, status: number, type: string, code: string, message: string) {
    send(
      res,
      status,
      `<ErrorResponse xmlns="${NS}"><Error><Type>${type}</Type><Code>${xmlEscape(code)}</Code>` +
        `<Message>${xmlEscape(message)}</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`,
    );
  }

  function send(res: ServerResponse, status: number, xml: string) {
    res.writeHead(status, {
      'content-type': 'text/xml',
      'x-amzn-requestid': randomUUID(),
      'content-length': Buffer.byteLength(xml),
    });
    res.end(xml);
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    messages,
    rejections,
    get calls() {
      return state.calls;
    },
    failNext(count, fault) {
      for (let i = 0; i < count; i++) faults.push(fault);
    },
    async stop() {
      if (!server.listening) return;
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) =>
        server.close((e) => (e ? reject(e) : resolve())),
      );
    },
  };
}
