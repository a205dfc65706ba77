/**
 * Where a rest-hook may POST. A Subscription makes the server send requests to a URL a client
 * chose, so the URL is held to rules that keep it outside the server's own network (SSRF):
 * https in production; global unicast only: never a link-local, cloud metadata or other
 * special-purpose address (169.254.0.0/16, fe80::/10, fd00:ec2::254, 198.18.0.0/15, Teredo …,
 * also inside IPv6: mapped, translated, compatible, NAT64, 6to4); loopback and private ranges
 * only when SUBSCRIPTION_ALLOW_LOOPBACK is on.
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
  if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(address)) return undefined;
  const parts = address.split('.').map(Number);
  return parts.every((p) => p < 256) ? parts : undefined;
}

/** The eight 16-bit groups of an IPv6 address (a dotted IPv4 tail included), or undefined. */
function ipv6Groups(text: string): number[] | undefined {
  if (isIP(text) !== 6) return undefined;
  let body = text;
  const tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(body);
  if (tail) {
    const v4 = ipv4(tail[1]!);
    if (!v4) return undefined;
    const high = ((v4[0]! << 8) | v4[1]!).toString(16);
    const low = ((v4[2]! << 8) | v4[3]!).toString(16);
    body = `${body.slice(0, -tail[1]!.length)}${high}:${low}`;
  }
  const [head, rest] = body.split('::') as [string, string | undefined];
  const parse = (s: string) => (s ? s.split(':').map((h) => parseInt(h, 16)) : []);
  const left = parse(head);
  const right = rest === undefined ? [] : parse(rest);
  const fill = rest === undefined ? 0 : 8 - left.length - right.length;
  const groups = [...left, ...Array<number>(Math.max(fill, 0)).fill(0), ...right];
  return groups.length === 8 && groups.every((g) => g >= 0 && g <= 0xffff) ? groups : undefined;
}

type AddressClass = 'never' | 'private' | 'public';

/**
 * IPv4: only global unicast is public. Loopback, RFC 1918 and carrier-grade NAT are private;
 * every other special-purpose range (IANA IPv4 Special-Purpose Address Registry: this network,
 * link-local, IETF protocol assignments, documentation, benchmarking, 6to4 relay, multicast,
 * reserved, broadcast) is never.
 */
function ipv4Class(v4: number[]): AddressClass {
  const [a, b, c] = v4 as [number, number, number];
  if (a === 127 || a === 10 || (a === 172 && b >= 16 && b < 32) || (a === 192 && b === 168))
    return 'private';
  if (a === 100 && b >= 64 && b < 128) return 'private'; // carrier-grade NAT
  if (a === 0 || a >= 224) return 'never'; // this network; multicast, reserved, broadcast
  if (a === 169 && b === 254) return 'never'; // link-local, cloud metadata
  if (a === 192 && b === 0 && (c === 0 || c === 2)) return 'never'; // IETF; TEST-NET-1
  if (a === 192 && b === 88 && c === 99) return 'never'; // 6to4 relay anycast
  if (a === 198 && (b === 18 || b === 19)) return 'never'; // benchmarking
  if (a === 198 && b === 51 && c === 100) return 'never'; // TEST-NET-2
  if (a === 203 && b === 0 && c === 113) return 'never'; // TEST-NET-3
  return 'public';
}

/**
 * 'never' (metadata, link-local, unspecified, multicast, any other special-purpose range),
 * 'private' (loopback, RFC 1918, CGNAT, ULA) or 'public' (global unicast only). An IPv4 address
 * inside IPv6 (mapped, translated, compatible, NAT64, 6to4) is judged as that IPv4 address.
 */
export function addressClass(address: string): AddressClass {
  const text = address.toLowerCase().replace(/^\[|\]$/g, '');
  const v4 = ipv4(text);
  if (v4) return ipv4Class(v4);
  const g = ipv6Groups(text);
  if (!g) return 'never';
  const zeros = (from: number, to: number) => g.slice(from, to).every((x) => x === 0);
  const tail = [g[6]! >> 8, g[6]! & 255, g[7]! >> 8, g[7]! & 255];
  if (zeros(0, 7) && g[7] === 1) return 'private'; // ::1
  if (zeros(0, 8)) return 'never'; // ::
  if (zeros(0, 5) && g[5] === 0xffff) return ipv4Class(tail); // ::ffff:0:0/96, mapped
  if (zeros(0, 4) && g[4] === 0xffff && g[5] === 0) return ipv4Class(tail); // translated
  if (zeros(0, 6)) return ipv4Class(tail); // ::/96, IPv4-compatible
  if (g[0] === 0x64 && g[1] === 0xff9b && zeros(2, 6)) return ipv4Class(tail); // NAT64
  if (g[0] === 0x2002) {
    // 6to4: the IPv4 address is in the second and third groups.
    return ipv4Class([g[1]! >> 8, g[1]! & 255, g[2]! >> 8, g[2]! & 255]);
  }
  if (g[0] === 0xfd00 && g[1] === 0xec2 && zeros(2, 7) && g[7] === 0x254) return 'never'; // AWS
  if ((g[0]! & 0xfe00) === 0xfc00) return 'private'; // fc00::/7, unique local
  // Global unicast only (2000::/3), less its special-purpose blocks: IETF protocol
  // assignments 2001::/23 (Teredo 2001::/32 among them), documentation 2001:db8::/32 and
  // 3fff::/20. Everything else (64:ff9b:1::/48, fec0::/10, fe80::/10, ff00::/8, 100::/64 …)
  // is never reached.
  if ((g[0]! & 0xe000) !== 0x2000) return 'never';
  if (g[0] === 0x2001 && g[1]! < 0x200) return 'never';
  if (g[0] === 0x2001 && g[1] === 0xdb8) return 'never';
  if (g[0] === 0x3fff && g[1]! < 0x1000) return 'never';
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
