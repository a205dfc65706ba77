/**
 * What a reminder says and where it goes. The text names only the date and time and a link:
 * no name, no reason, no practitioner, nothing from the record beyond when.
 */
import type { ContactPoint, Resource } from 'fhir/r4.js';
import type { Channel } from '../notify/notifier.js';
import type { ReminderKind } from './schedule.js';

export function formatWhen(start: Date, timeZone: string): string {
  return new Intl.DateTimeFormat('en-US', {
    timeZone,
    weekday: 'long',
    year: 'numeric',
    month: 'long',
    day: 'numeric',
    hour: 'numeric',
    minute: '2-digit',
    timeZoneName: 'short',
  }).format(start);
}

export function messageText(kind: ReminderKind, when: string, link: string): string {
  switch (kind) {
    case 'reminder':
      return `Reminder: your telehealth visit is on ${when} ${link}`;
    case 'booked':
      return `Your telehealth visit is booked for ${when} ${link}`;
    case 'rescheduled':
      return `Your telehealth visit has moved to ${when} ${link}`;
    case 'cancelled':
      return `Your telehealth visit on ${when} is cancelled ${link}`;
  }
}

const E164 = /^\+[1-9]\d{6,14}$/;

/** A phone number as SNS takes it (E.164) with its formatting removed; undefined if not one. */
function e164(value: string): string | undefined {
  const plain = value.replace(/[\s().-]/g, '');
  return E164.test(plain) ? plain : undefined;
}

function current(point: ContactPoint, now: Date): boolean {
  if (!point.value || point.use === 'old') return false;
  const end = point.period?.end;
  return !end || Date.parse(end) > now.getTime();
}

const byRank = (a: ContactPoint, b: ContactPoint) =>
  (a.rank ?? Number.MAX_SAFE_INTEGER) - (b.rank ?? Number.MAX_SAFE_INTEGER);

/**
 * Where a person can be reached on the channels a notifier has: SMS first (telecom `sms`, then
 * a mobile `phone`, then any `phone`, each in rank order), else email.
 */
export function contactOf(
  person: Resource,
  channels: ReadonlySet<Channel>,
  now: Date,
): { channel: Channel; address: string } | undefined {
  const telecom = ((person as { telecom?: ContactPoint[] }).telecom ?? [])
    .filter((p) => current(p, now))
    .sort(byRank);
  if (channels.has('sms')) {
    const phones = [
      ...telecom.filter((p) => p.system === 'sms'),
      ...telecom.filter((p) => p.system === 'phone' && p.use === 'mobile'),
      ...telecom.filter((p) => p.system === 'phone' && p.use !== 'mobile'),
    ];
    for (const phone of phones) {
      const address = e164(phone.value!);
      if (address) return { channel: 'sms', address };
    }
  }
  if (channels.has('email')) {
    const email = telecom.find((p) => p.system === 'email' && /^[^\s@]+@[^\s@]+$/.test(p.value!));
    if (email) return { channel: 'email', address: email.value! };
  }
  return undefined;
}
