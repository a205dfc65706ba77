/**
 * Notifier: how a message reaches a person (SMS or email), behind one small interface picked
 * by NOTIFY_PROVIDER (open.ts): `sns` (Amazon SNS) or `local` (a table and a log line).
 */

export type Channel = 'sms' | 'email';

export interface Notification {
  /**
   * Stable for one message however often it is attempted: a provider that can deduplicate
   * (an SNS FIFO topic, the local table) sends it once.
   */
  key: string;
  channel: Channel;
  /** E.164 phone number or email address. */
  address: string;
  /**
   * `Patient/<id>` or `Practitioner/<id>`: for the local record only; never in the text, and
   * never sent to a provider (SNS gets the address alone).
   */
  recipient: string;
  /** The message; no PHI beyond a date/time and a link. */
  text: string;
}

export interface Notifier {
  readonly provider: 'sns' | 'local';
  /** The channels this notifier can deliver to. */
  readonly channels: ReadonlySet<Channel>;
  /** Resolves when the provider has accepted the message; returns its message id. */
  send(notification: Notification): Promise<string>;
  close(): Promise<void>;
}
