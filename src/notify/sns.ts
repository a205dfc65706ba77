import { createHash } from 'node:crypto';
import {
  PublishCommand,
  SNSClient,
  type MessageAttributeValue,
  type PublishCommandInput,
} from '@aws-sdk/client-sns';
import type { Channel, Notification, Notifier } from './notifier.js';

export interface SnsOptions {
  region: string;
  /**
   * SNS_TOPIC_ARN: publish every message to this topic, with its channel and address (only
   * those) as message attributes, for a subscriber (an SES or SMS delivery function) to deliver. Absent:
   * SMS straight to the phone number; SNS can't send email to an address, so only SMS.
   */
  topicArn?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Tests' emulator; otherwise the SDK's resolution, which honours AWS_ENDPOINT_URL_SNS. */
  endpoint?: string;
  timeoutMs?: number;
}

const text = (value: string): MessageAttributeValue => ({ DataType: 'String', StringValue: value });

/** The name of an SDK error, never its message (which may quote what was sent). */
export class NotifyError extends Error {
  constructor(readonly code: string) {
    super(`notification failed: ${code}`);
    this.name = 'NotifyError';
  }
}

/**
 * NOTIFY_PROVIDER=sns. A FIFO topic (`.fifo`) deduplicates on the message's key for five
 * minutes, so a resend after a crash between publish and bookkeeping is dropped by SNS; a
 * standard topic or direct SMS can't deduplicate, and such a resend reaches the person twice.
 */
export function snsNotifier(options: SnsOptions): Notifier {
  const client = new SNSClient({
    region: options.region,
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    ...(options.credentials ? { credentials: options.credentials } : {}),
    maxAttempts: 2,
  });
  const topic = options.topicArn;
  const fifo = topic?.endsWith('.fifo') ?? false;
  const channels = new Set<Channel>(topic ? ['sms', 'email'] : ['sms']);
  const timeoutMs = options.timeoutMs ?? 10_000;
  return {
    provider: 'sns',
    channels,
    async send(n: Notification) {
      if (!channels.has(n.channel)) throw new NotifyError('UnsupportedChannel');
      const input: PublishCommandInput = topic
        ? {
            TopicArn: topic,
            Message: n.text,
            // What leaves for the topic's subscribers is what delivery needs and no more: the
            // channel (SMS or email) and the address to deliver to — a subscriber can't deliver
            // without it, and putting it in the attributes keeps the body the bare text. Not the
            // recipient's `Patient/<id>` (it would tie the address to a record in the topic's
            // logs and dead-letter queues), nor a name, MRN or reason: the text has none either
            // (a date/time and a link, message.ts).
            MessageAttributes: { channel: text(n.channel), address: text(n.address) },
            ...(fifo
              ? {
                  // A hash: SNS allows 128 characters of a limited alphabet.
                  MessageDeduplicationId: createHash('sha256').update(n.key).digest('hex'),
                  MessageGroupId: 'reminders',
                }
              : {}),
          }
        : {
            PhoneNumber: n.address,
            Message: n.text,
            MessageAttributes: { 'AWS.SNS.SMS.SMSType': text('Transactional') },
          };
      try {
        const out = await client.send(new PublishCommand(input), {
          abortSignal: AbortSignal.timeout(timeoutMs),
        });
        return out.MessageId ?? '';
      } catch (error) {
        const name = (error as { name?: unknown }).name;
        throw new NotifyError(typeof name === 'string' ? name : 'Error');
      }
    },
    async close() {
      client.destroy();
    },
  };
}
