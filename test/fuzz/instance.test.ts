/**
 * Fuzzing the instance and type interactions: read, vread, history with odd ids, versions and
 * parameters; create, update, conditional writes and delete with mutated bodies and odd
 * headers (If-Match, If-None-Match, If-None-Exist, Prefer, X-Break-Glass, Content-Type,
 * Accept); Binary with odd bytes and media types.
 */
import t from 'tap';
import { RESOURCE_TYPES } from '../../src/fhir/resource-types.js';
import { validResources } from '../fixtures.js';
import {
  CALLERS,
  cases,
  encode,
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

const ID = [
  'p1',
  'x1',
  'dr1',
  'nope',
  '',
  '.',
  '..',
  '-',
  'a.b',
  'x'.repeat(64),
  'x'.repeat(65),
  'x'.repeat(250),
  '%00',
  '%2F',
  '%2e%2e',
  '%ff',
  'a%20b',
  'x;y',
  'Zo%C3%AB',
  '$everything',
  '_history',
  '_search',
  '*',
];
const VERSION = [
  '1',
  '2',
  '0',
  '-1',
  '1.5',
  'abc',
  '99999999999999999999',
  '1e3',
  '%00',
  '',
  'W/"1"',
];

function id(r: Random): string {
  return r.chance(0.85) ? r.pick(ID) : encode(r, randomText(r, 1 + r.int(10)));
}

/** Any JSON value, biased to what breaks validators: wrong types, edge numbers, odd keys. */
function jsonValue(r: Random, depth = 0): unknown {
  switch (r.int(depth > 2 ? 5 : 8)) {
    case 0:
      return r.pick(HOSTILE_STRINGS);
    case 1:
      return r.pick([0, -0, 1.5, -1, 2 ** 53 + 1, 1e308, -1e308, 5e-324]);
    case 2:
      return r.pick([true, false, null]);
    case 3:
      return randomText(r, r.int(12));
    case 4:
      return r.pick([[], {}, '', [null], [{}]]);
    case 5:
      return [jsonValue(r, depth + 1), jsonValue(r, depth + 1)];
    default: {
      const key = r.pick([
        'resourceType',
        'id',
        'meta',
        'extension',
        'reference',
        'url',
        'x',
        '_given',
      ]);
      return { [key]: jsonValue(r, depth + 1), value: jsonValue(r, depth + 1) };
    }
  }
}

/** A valid resource with one to three things changed, added or removed somewhere inside. */
function mutated(r: Random, type: string): Record<string, unknown> {
  const make = validResources[type] ?? validResources.Patient!;
  const resource = JSON.parse(JSON.stringify(make())) as Record<string, unknown>;
  const changes = r.chance(0.25) ? 0 : 1 + r.int(3);
  for (let k = 0; k < changes; k++) {
    let node: Record<string, unknown> | unknown[] = resource;
    for (let depth = 0; depth < 4; depth++) {
      const keys = Object.keys(node);
      if (!keys.length || r.chance(0.3)) break;
      const key = r.pick(keys);
      const child = (node as Record<string, unknown>)[key];
      if (child === null || typeof child !== 'object') break;
      node = child as Record<string, unknown>;
    }
    const keys = Object.keys(node);
    const key =
      keys.length && r.chance(0.7)
        ? r.pick(keys)
        : r.pick(['id', 'meta', 'contained', 'text', 'zz']);
    if (r.chance(0.2)) delete (node as Record<string, unknown>)[key];
    else (node as Record<string, unknown>)[key] = jsonValue(r);
  }
  return resource;
}

/** A request body: usually a mutated resource, sometimes text that is barely JSON. */
function body(r: Random, type: string): string {
  if (r.chance(0.15)) {
    return r.pick([
      '',
      'null',
      '[]',
      '1',
      '"x"',
      '{}',
      '{',
      '{"resourceType":1}',
      '{"resourceType":"__proto__"}',
      '{"__proto__":{"x":1},"resourceType":"Patient"}',
      '{"constructor":{"prototype":{"x":1}},"resourceType":"Patient"}',
      '\ufeff{"resourceType":"Patient"}',
      '{"resourceType":"Patient","resourceType":"Encounter"}',
      `{"resourceType":"${type}","id":"x1","id":"x2"}`,
      '{"resourceType":"Patient"}\u0000',
      JSON.stringify({ resourceType: 'Bundle', type: 'batch' }),
    ]);
  }
  const resource = r.chance(0.1) ? mutated(r, r.pick(WRITABLE)) : mutated(r, type);
  return JSON.stringify(resource);
}

function headers(r: Random): Record<string, string> {
  const h: Record<string, string> = {
    authorization: `Bearer ${TOKENS[r.pick(CALLERS)]}`,
    accept: r.chance(0.9)
      ? 'application/fhir+json'
      : r.pick(['text/xml', '*/*', 'application/json', '']),
  };
  if (r.chance(0.2))
    h['if-match'] = r.pick(['W/"1"', 'W/"2"', '"1"', 'W/"', '"', '*', 'W/"x"', 'W/"1", W/"2"', '']);
  if (r.chance(0.2)) h['if-none-match'] = r.pick(['W/"1"', '*', 'W/"99"', '"', 'x']);
  if (r.chance(0.2))
    h['if-none-exist'] =
      `${r.pick(['name', 'identifier', '_id', 'x', 'patient.name', '_has:Encounter:patient:status'])}=${encode(r, searchValue(r))}`;
  if (r.chance(0.2)) {
    h.prefer = r.pick([
      'return=minimal',
      'return=representation',
      'return=OperationOutcome',
      'handling=strict',
      'return=x',
      'respond-async',
      ';;;',
    ]);
  }
  if (r.chance(0.1))
    h['x-break-glass'] = r.pick(['emergency care', '', 'x'.repeat(2000), 'caf\u00e9']);
  return h;
}

const contentType = (r: Random) =>
  r.chance(0.9)
    ? r.pick(['application/fhir+json', 'application/json', 'application/fhir+json; charset=utf-8'])
    : r.pick([
        'text/plain',
        'application/xml',
        'application/fhir+json; charset=latin1',
        'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=x',
        '',
        'application/json+fhir',
      ]);

t.test('instance and type interactions answer every fuzzed request below 500', async (t) => {
  const { base } = await seededServer(t);
  const r = random(3);
  const verdicts = new Verdicts(t);
  const n = cases(700);
  for (let i = 0; i < n; i++) {
    const type = r.chance(0.93)
      ? r.pick(TYPES)
      : r.pick(['Nope', 'patient', 'Bundle', 'Parameters', 'AuditEvent']);
    const h = headers(r);
    let method = 'GET';
    let path: string;
    let payload: string | undefined;
    switch (r.int(10)) {
      case 0:
        path = `${type}/${id(r)}`;
        break;
      case 1:
        path = `${type}/${id(r)}/_history/${r.pick(VERSION)}`;
        break;
      case 2: {
        const since = r.pick(['2020-01-01', '2020-01-01T00:00:00Z', '2024-13-01', 'x', '', '1e9']);
        const scope = r.pick([`${type}/${id(r)}/_history`, `${type}/_history`, '_history']);
        path = `${scope}?_since=${encode(r, since)}&_count=${encode(r, r.pick(['1', '0', '-1', 'x', '1001']))}`;
        break;
      }
      case 3:
      case 4:
        method = 'POST';
        path = type;
        payload = body(r, type);
        break;
      case 5:
      case 6:
        method = 'PUT';
        path = `${type}/${r.chance(0.7) ? r.pick(['x1', 'p1', 'new1']) : id(r)}`;
        payload = body(r, type);
        break;
      case 7:
        method = r.pick(['PUT', 'DELETE']);
        path = `${type}?${encode(r, r.pick(['_id', 'name', 'identifier', 'patient', 'x']))}=${encode(r, searchValue(r))}`;
        if (method === 'PUT') payload = body(r, type);
        break;
      case 8:
        method = r.pick(['DELETE', 'PATCH', 'POST', 'HEAD', 'OPTIONS', 'TRACE']);
        path = `${type}/${id(r)}`;
        if (method === 'PATCH' || method === 'POST') payload = body(r, type);
        break;
      default:
        method = r.pick(['GET', 'PUT', 'POST']);
        path = `${type}/${id(r)}/${r.pick(['_history', '$validate', '$everything', 'x', '_history/1/x', ''])}`;
        if (method !== 'GET') payload = body(r, type);
    }
    if (payload !== undefined) h['content-type'] = contentType(r);
    // TRACE and OPTIONS without CORS headers are refused by Node and the CORS plugin in plain text.
    const reply = await send(base, method, path, h, payload);
    if (method === 'TRACE' || method === 'OPTIONS') continue;
    verdicts.check(reply, method, path, payload);
  }
  verdicts.done();
});

t.test('Binary answers odd bytes, media types and Accept headers below 500', async (t) => {
  const { base } = await seededServer(t);
  const r = random(4);
  const verdicts = new Verdicts(t);
  const n = cases(120);
  for (let i = 0; i < n; i++) {
    const h = headers(r);
    if (r.chance(0.5)) {
      h['content-type'] = r.pick([
        'application/pdf',
        'text/plain',
        'image/png',
        'application/fhir+json',
        'x',
        '/',
        'text/plain; charset=x',
      ]);
      if (r.chance(0.3)) h['x-security-context'] = r.pick(['Patient/p1', 'Patient/', 'x', '']);
      const bytes = Buffer.from(Array.from({ length: r.int(64) }, () => r.int(256)));
      const method = r.chance(0.7) ? 'POST' : 'PUT';
      const path = method === 'POST' ? 'Binary' : `Binary/${id(r)}`;
      verdicts.check(await send(base, method, path, h, bytes), method, path);
    } else {
      h.accept = r.pick(['application/pdf', '*/*', 'application/fhir+json', 'text/plain', '']);
      const path = r.chance(0.5) ? `Binary/${id(r)}` : `Binary/x1/_history/${r.pick(VERSION)}`;
      verdicts.check(await send(base, 'GET', path, h), 'GET', path);
    }
  }
  verdicts.done();
});
