/**
 * A Subscription a client sends, checked before anything is stored: the R4 definition, the
 * criteria as a search its owner may run, a channel this server delivers, and an endpoint
 * outside the server's own network (endpoint.ts).
 */
import type { Subscription } from 'fhir/r4.js';
import type { AccessPolicy } from '../auth/policy.js';
import { FhirError } from '../fhir/errors.js';
import type { Validator } from '../validation/validator.js';
import { assertValid } from '../exchange/assert-valid.js';
import { criteriaSearch, parseCriteria, type Criteria } from './criteria.js';
import { checkEndpointUrl, type EndpointRules } from './endpoint.js';
import type { Status } from './repository.js';

/** The extension the create response carries the signing secret in (only there, only once). */
export const SECRET_EXTENSION = 'https://telefhir.dev/fhir/StructureDefinition/subscription-secret';

/** Headers the server sets itself, or that would change how the request travels. */
const RESERVED_HEADER =
  /^(host|content-length|content-type|transfer-encoding|connection|keep-alive|upgrade|te|trailer|proxy-.*|x-notification-.*|x-subscription-.*)$/i;

export interface Accepted {
  resource: Subscription;
  criteria: Criteria;
  /** What the client asked for: requested (deliver, after a handshake) or off. */
  requested: 'requested' | 'off' | 'unchanged';
  channel: 'rest-hook' | 'websocket';
}

const invalid = (why: string, expression: string) => new FhirError(422, 'invalid', why, expression);

export function acceptSubscription(
  body: unknown,
  options: {
    validator: Validator;
    policy: AccessPolicy;
    baseUrl: string;
    rules: EndpointRules;
    id?: string;
  },
): Accepted {
  if (!body || typeof body !== 'object' || (body as Subscription).resourceType !== 'Subscription') {
    throw new FhirError(400, 'invalid', 'The body must be a Subscription resource');
  }
  const sent = body as Subscription;
  if (options.id !== undefined && sent.id !== options.id) {
    throw new FhirError(400, 'invalid', `The body's id must be ${options.id}, the id in the URL`);
  }
  assertValid(options, sent);
  // R4's 1..1 elements (the JSON schema alone doesn't hold them).
  for (const [value, path] of [
    [sent.status, 'Subscription.status'],
    [sent.reason, 'Subscription.reason'],
    [sent.criteria, 'Subscription.criteria'],
    [sent.channel?.type, 'Subscription.channel.type'],
  ] as const) {
    if (typeof value !== 'string' || !value.trim()) throw invalid(`${path} is required`, path);
  }
  const criteria = parseCriteria(sent.criteria);
  criteriaSearch(criteria, options.baseUrl, options.policy);
  const channel = sent.channel?.type;
  if (channel !== 'rest-hook' && channel !== 'websocket') {
    throw invalid(
      'Subscription.channel.type must be rest-hook or websocket',
      'Subscription.channel.type',
    );
  }
  const payload = sent.channel.payload;
  if (payload !== undefined && payload !== 'application/fhir+json') {
    throw invalid(
      'Subscription.channel.payload must be application/fhir+json, or absent for id-only notifications',
      'Subscription.channel.payload',
    );
  }
  if (channel === 'rest-hook') checkEndpointUrl(sent.channel.endpoint, options.rules);
  for (const header of sent.channel.header ?? []) {
    const match = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*([^\r\n]*)$/.exec(header);
    if (!match || RESERVED_HEADER.test(match[1]!)) {
      throw invalid(
        'Subscription.channel.header must be "Name: value" and not a header the server sets',
        'Subscription.channel.header',
      );
    }
  }
  const requested: Accepted['requested'] =
    sent.status === 'off' ? 'off' : sent.status === 'requested' ? 'requested' : 'unchanged';
  const resource: Subscription = { ...sent };
  delete resource.error;
  delete resource.meta;
  resource.extension = resource.extension?.filter((e) => e.url !== SECRET_EXTENSION);
  if (!resource.extension?.length) delete resource.extension;
  return { resource, criteria, requested, channel };
}

/** The status a write leaves: the server owns active and error; clients ask for requested or off. */
export function nextStatus(asked: Accepted['requested'], current: Status | undefined): Status {
  if (asked === 'off') return 'off';
  if (asked === 'requested') return current === 'active' ? 'active' : 'requested';
  if (current === undefined || current === 'off') return 'requested';
  return current;
}

/**
 * Subscription.end as the server keeps it: the client's, but never later than the lifetime cap
 * from now (absent, it is the cap). Every Subscription ends, so a grant kept with it does too.
 */
export function endOf(sent: string | undefined, now: Date, maxLifetimeMs: number): Date {
  const cap = now.getTime() + maxLifetimeMs;
  if (sent === undefined) return new Date(cap);
  const asked = Date.parse(sent);
  if (Number.isNaN(asked)) throw invalid('Subscription.end must be an instant', 'Subscription.end');
  return new Date(Math.min(asked, cap));
}
