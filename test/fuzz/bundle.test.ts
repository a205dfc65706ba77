/**
 * Fuzzing batch and transaction Bundles: malformed entries, urls, methods, fullUrls,
 * placeholders, conditional headers and resources, with full and narrow tokens.
 */
import t from 'tap';
import { RESOURCE_TYPES } from '../../src/fhir/resource-types.js';
import { validResources } from '../fixtures.js';
import {
  CALLERS,
  cases,
  HOSTILE_STRINGS,
  random,
  randomText,
  searchValue,
  seededServer,
  send,
  TOKENS,
  Verdicts,
  type Random,
} from './fuzz.js';

const TYPES = [...RESOURCE_TYPES.keys()];
const WRITABLE = Object.keys(validResources);
const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'get', '', 'x'];
const PLACEHOLDERS = [
  'urn:uuid:11111111-1111-1111-1111-111111111111',
  'urn:uuid:22222222-2222-2222-2222-222222222222',
  'urn:oid:1.2.3',
  'urn:uuid:not-a-uuid',
];

function url(r: Random, type: string): string {
  switch (r.int(9)) {
    case 0:
      return `${type}/${r.pick(['x1', 'p1', 'new', '', '..', 'x'.repeat(70), '%00', '$validate'])}`;
    case 1:
      return `${type}?${r.pick(['name', '_id', 'identifier', 'patient.name', '_has:Encounter:patient:status'])}=${encodeURIComponent(searchValue(r))}`;
    case 2:
      return `${type}/x1/_history/${r.pick(['1', '0', 'x', ''])}`;
    case 3:
      return r.pick([
        '',
        '/',
        '?',
        '../Patient/p1',
        'metadata',
        '_history',
        'Patient/$validate',
        'Appointment/$book',
        'http://elsewhere.example/fhir/Patient/p1',
        'http://127.0.0.1/fhir/Patient/p1',
        '//Patient',
        'Patient/p1/_history',
        'Patient/p1?x=1',
        'Binary/x1',
      ]);
    case 4:
      return r.pick(PLACEHOLDERS);
    case 5:
      return r.pick(HOSTILE_STRINGS);
    case 6:
      return `${type}/_search?${encodeURIComponent(randomText(r, 5))}=1`;
    default:
      return type;
  }
}

function resource(r: Random, type: string): unknown {
  const make = validResources[type] ?? validResources.Patient!;
  const made: Record<string, unknown> = make();
  if (r.chance(0.3)) made.id = r.pick(['x1', 'p1', 'other', '', 'x'.repeat(70)]);
  if (r.chance(0.2) && 'subject' in made) made.subject = { reference: r.pick(PLACEHOLDERS) };
  if (r.chance(0.1)) made.resourceType = r.pick([...TYPES, 'Bundle', 'Nope', '']);
  if (r.chance(0.1)) {
    return r.pick([
      null,
      'x',
      [],
      {},
      1,
      { resourceType: 'Bundle', type: 'transaction', entry: [] },
    ]);
  }
  return made;
}

function entry(r: Random): unknown {
  if (r.chance(0.05)) return r.pick([null, 'x', [], 1, {}]);
  const type = r.chance(0.8) ? r.pick(WRITABLE) : r.pick(TYPES);
  const method = r.pick(METHODS);
  const request: Record<string, unknown> = { method, url: url(r, type) };
  if (r.chance(0.15)) request.ifNoneExist = `identifier=${encodeURIComponent(searchValue(r))}`;
  if (r.chance(0.15)) request.ifMatch = r.pick(['W/"1"', 'W/"x"', '*', '', '"']);
  if (r.chance(0.1)) request.ifNoneMatch = r.pick(['W/"1"', '*', 'x']);
  if (r.chance(0.05)) request.method = r.pick([1, null, ['GET']]);
  const e: Record<string, unknown> = { request };
  if (r.chance(0.5)) e.fullUrl = r.chance(0.6) ? r.pick(PLACEHOLDERS) : url(r, type);
  if (['POST', 'PUT', 'PATCH', 'x'].includes(method) || r.chance(0.1))
    e.resource = resource(r, type);
  if (r.chance(0.05)) delete e.request;
  return e;
}

t.test('batch and transaction answer every fuzzed Bundle below 500', async (t) => {
  const { base } = await seededServer(t);
  const r = random(5);
  const verdicts = new Verdicts(t);
  const n = cases(300);
  for (let i = 0; i < n; i++) {
    const type = r.chance(0.9)
      ? r.pick(['batch', 'transaction'])
      : r.pick(['searchset', 'collection', 'BATCH', '', 1]);
    const entries = Array.from({ length: r.int(6) }, () => entry(r));
    const bundle: Record<string, unknown> = { resourceType: 'Bundle', type, entry: entries };
    if (r.chance(0.05)) bundle.entry = r.pick([null, {}, 'x']);
    if (r.chance(0.05)) bundle.resourceType = r.pick(['Parameters', 'Patient']);
    const text = JSON.stringify(bundle);
    const headers: Record<string, string> = {
      authorization: `Bearer ${TOKENS[r.pick(CALLERS)]}`,
      'content-type': 'application/fhir+json',
      accept: 'application/fhir+json',
    };
    if (r.chance(0.2))
      headers.prefer = r.pick(['return=minimal', 'return=OperationOutcome', 'handling=strict']);
    if (r.chance(0.05)) headers['x-break-glass'] = 'fuzzing';
    verdicts.check(await send(base, 'POST', '', headers, text), 'POST', '(bundle)', text);
  }
  verdicts.done();
});
