/**
 * rest-hook endpoints reach global unicast only: every form an internal address can take inside
 * an IPv6 literal, and every special-purpose range, is refused (table-driven).
 */
import t from 'tap';
import { fhir } from '../helpers.js';
import { addressClass } from '../../src/subscriptions/endpoint.js';
import { auth, patientToken, subscription, subscriptionWorld } from './world.js';

const TABLE: [string, 'never' | 'private' | 'public'][] = [
  // Embedded IPv4: metadata and loopback in every IPv6 form.
  ['[64:ff9b:1::a9fe:a9fe]', 'never'], // NAT64 local-use 64:ff9b:1::/48
  ['[64:ff9b::a9fe:a9fe]', 'never'], // NAT64 well-known, metadata inside
  ['[64:ff9b::169.254.169.254]', 'never'],
  ['[64:ff9b::7f00:1]', 'private'],
  ['[::ffff:a9fe:a9fe]', 'never'], // IPv4-mapped
  ['[::ffff:127.0.0.1]', 'private'],
  ['[::ffff:0:7f00:1]', 'private'], // IPv4-translated ::ffff:0:0/96
  ['[::ffff:0:a9fe:a9fe]', 'never'],
  ['[::7f00:1]', 'private'], // IPv4-compatible ::/96
  ['[::a9fe:a9fe]', 'never'],
  ['[2002:a9fe:a9fe::1]', 'never'], // 6to4 with metadata inside
  ['[2002:7f00:1::]', 'private'],
  ['[2002:808:808::1]', 'public'], // 6to4 of 8.8.8.8
  ['[2001::1]', 'never'], // Teredo
  ['[2001:0:4136:e378:8000:63bf:3fff:fdd2]', 'never'],
  ['[2001:db8::1]', 'never'], // documentation
  ['[3fff::1]', 'never'],
  ['[fec0::1]', 'never'], // site-local
  ['[fe80::1]', 'never'],
  ['[ff02::1]', 'never'],
  ['[::]', 'never'],
  ['[::1]', 'private'],
  ['[fd00:ec2::254]', 'never'],
  ['[fc00::1]', 'private'],
  ['[100::1]', 'never'], // discard-only
  ['[2606:4700::1111]', 'public'],
  // IPv4 special-purpose ranges.
  ['198.18.0.1', 'never'],
  ['198.19.255.255', 'never'],
  ['192.0.0.1', 'never'],
  ['192.0.2.1', 'never'],
  ['198.51.100.1', 'never'],
  ['203.0.113.1', 'never'],
  ['192.88.99.1', 'never'],
  ['100.64.0.1', 'private'], // CGNAT
  ['240.0.0.1', 'never'],
  ['255.255.255.255', 'never'],
  ['0.0.0.0', 'never'],
  ['0.1.2.3', 'never'],
  ['169.254.169.254', 'never'],
  ['127.0.0.1', 'private'],
  ['10.1.2.3', 'private'],
  ['8.8.8.8', 'public'],
  ['198.20.0.1', 'public'],
];

t.test('each address form is classed as what it reaches', async (t) => {
  for (const [address, expected] of TABLE) {
    t.equal(addressClass(address), expected, address);
    // As URL parsing writes it (Node normalizes IPv6 literals).
    const host = new URL(`http://${address}/`).hostname;
    t.equal(addressClass(host), expected, `${address} as ${host}`);
  }
});

t.test('the server refuses every non-public endpoint with 422', async (t) => {
  const { base } = await subscriptionWorld(t, { allowPrivate: false });
  const a = auth(patientToken('pa'));
  for (const [address, expected] of TABLE) {
    if (expected === 'public') continue; // never contacted from a test: loopback only
    const res = await fhir(
      base,
      'POST',
      'Subscription',
      subscription(`http://${address}/hook`, 'Observation?'),
      a,
    );
    t.equal(res.status, 422, `${address}: ${res.text}`);
    t.equal(res.body.resourceType, 'OperationOutcome');
  }
});
