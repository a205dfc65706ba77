/**
 * Where a rest-hook may POST. A Subscription makes the server send requests to a URL a client
 * chose, so the URL is held to rules that keep it outside the server's own network (SSRF):
 * https in production; never a link-local or cloud metadata address (169.254.0.0/16, fe80::/10,
 * fd00:ec2::254); loopback and private ranges only when SUBSCRIPTION_ALLOW_LOOPBACK is on.
 * The name is resolved again at every delivery and each address checked, so a DNS answer that
 * changes after the Subscription was accepted can't point it inward.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { FhirError } from '../fhir/errors.js';

export interface EndpointRules {
  allowPrivate: boolean;
  httpsOnly: boolean;
}

const refused = (why: string) =>
  new FhirError(
    422,
    'invalid',
    `Subscription.channel.endpoint ${why}`,
    'Subscription.channel.endpoint',
  );

function ipv4(address: string): number[] | undefined {
  const parts = address.split('.').map(Number);
  return parts.length === 4 && parts.every((p) => Number.isInteger(p) && p >= 0 && p < 256)
    ? parts
    : undefined;
}

/** 'never' (metadata, link-local, unspecified, multicast), 'private' (loopback, RFC 1918, ULA) or 'public'. */
export function addressClass(address: string): 'never' | 'private' | 'public' {
  let text = address.toLowerCase().replace(/^\[|\]$/g, '');
  // IPv4 inside IPv6 (mapped ::ffff:, NAT64 64:ff9b::), dotted or in hex as URL parsing writes it.
  const embedded =
    /^(?:::ffff:|64:ff9b::)(?:(\d+\.\d+\.\d+\.\d+)|([0-9a-f]{1,4}):([0-9a-f]{1,4}))$/.exec(text);
  if (embedded) {
    text =
      embedded[1] ??
      [embedded[2]!, embedded[3]!]
        .flatMap((h) => {
          const n = parseInt(h, 16);
          return [n >> 8, n & 255];
        })
        .join('.');
  }
  const v4 = ipv4(text);
  if (v4) {
    const [a, b] = v4 as [number, number];
    if (a === 169 && b === 254) return 'never';
    if (a === 0 || a >= 224) return 'never';
    if (a === 127 || a === 10 || (a === 172 && b >= 16 && b < 32) || (a === 192 && b === 168))
      return 'private';
    if (a === 100 && b >= 64 && b < 128) return 'private'; // carrier-grade NAT
    return 'public';
  }
  if (isIP(text) !== 6) return 'never';
  if (text === '::' || text.startsWith('ff')) return 'never';
  if (/^fe[89ab]/.test(text)) return 'never'; // link-local
  if (text === 'fd00:ec2::254') return 'never'; // AWS metadata over IPv6
  if (text === '::1' || /^f[cd]/.test(text)) return 'private';
  return 'public';
}

/** The URL's own rules (scheme, credentials, a literal address); 422 with the reason. */
export function checkEndpointUrl(raw: string | undefined, rules: EndpointRules): URL {
  if (!raw) throw refused('is required for a rest-hook');
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw refused('is not an absolute URL');
  }
  if (url.protocol !== 'https:' && (rules.httpsOnly || url.protocol !== 'http:')) {
    throw refused(rules.httpsOnly ? 'must be https' : 'must be http or https');
  }
  if (url.username || url.password) throw refused('must not carry credentials');
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host)) checkAddress(host, rules);
  else if (/^(localhost|metadata(\.google\.internal)?)\.?$/i.test(host) && !rules.allowPrivate) {
    throw refused("names this server's own network");
  }
  return url;
}

function checkAddress(address: string, rules: EndpointRules) {
  const kind = addressClass(address);
  if (kind === 'never') throw refused('is a link-local, metadata or unroutable address');
  if (kind === 'private' && !rules.allowPrivate) throw refused('is a loopback or private address');
}

/** At delivery: every address the name resolves to must pass too. Returns one to connect to. */
export async function resolveEndpoint(url: URL, rules: EndpointRules): Promise<string> {
  checkEndpointUrl(url.href, rules);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host)) return host;
  const addresses = await lookup(host, { all: true });
  if (!addresses.length) throw refused('does not resolve');
  for (const { address } of addresses) checkAddress(address, rules);
  return addresses[0]!.address;
}
