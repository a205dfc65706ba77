/**
 * Fuzzing search: every served type's parameters (from the search registry) with modifiers,
 * prefixes and hostile values; the result parameters; chains and _has; tampered paging
 * cursors; GET and POST _search; with full and narrow tokens and odd headers.
 */
import t from 'tap';
import { RESOURCE_TYPES } from '../../src/fhir/resource-types.js';
import { searchParamsFor } from '../../src/search/registry.js';
import {
  CALLERS,
  cases,
  encode,
  hostileValue,
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
const MODIFIERS = [
  'exact',
  'contains',
  'missing',
  'not',
  'text',
  'in',
  'not-in',
  'below',
  'above',
  'of-type',
  'identifier',
  'Patient',
  'Practitioner',
  'type',
  'iterate',
  'zz',
  '',
];
const RESULT = ['_count', '_total', '_summary', '_elements', '_sort', '_include', '_revinclude'];

const codesOf = (type: string) => [...searchParamsFor(type).keys()];

/** A parameter name of `type`: a real one (modified, chained, _has) or something near it. */
function paramName(r: Random, type: string): string {
  const codes = codesOf(type);
  const code = codes.length ? r.pick(codes) : '_id';
  switch (r.int(8)) {
    case 0:
      return `${code}:${r.pick(MODIFIERS)}`;
    case 1: {
      const target = r.pick(TYPES);
      const next = codesOf(target);
      return `${code}:${target}.${next.length ? r.pick(next) : 'x'}`;
    }
    case 2:
      return `${code}.${r.pick(codesOf(r.pick(TYPES)))}${r.chance(0.3) ? `.${r.pick(codes)}` : ''}`;
    case 3: {
      const source = r.pick(TYPES);
      const sourceCodes = codesOf(source);
      return `_has:${source}:${r.pick(sourceCodes)}:${r.pick(codesOf(source))}${r.chance(0.2) ? ':x' : ''}`;
    }
    case 4:
      return r.pick(['_id', '_lastUpdated', '_tag', '_profile', '_security', '_source', '_text']);
    case 5:
      return r.chance(0.5)
        ? randomText(r, 1 + r.int(8))
        : `${code}${r.pick([':', '.', '::', '$'])}`;
    default:
      return code;
  }
}

function resultParam(r: Random, type: string): [string, string] {
  const name = r.pick(RESULT);
  const codes = codesOf(type);
  switch (name) {
    case '_count':
      return [name, r.pick(['0', '1', '1000', '1001', '-1', '1e3', '99999999999', '', 'x'])];
    case '_total':
      return [name, r.pick(['none', 'estimate', 'accurate', 'NONE', '', 'x'])];
    case '_summary':
      return [name, r.pick(['true', 'false', 'text', 'data', 'count', '', 'x'])];
    case '_elements':
      return [
        name,
        [1, 2, 3].map(() => r.pick([...codes, 'id', 'meta', 'name', 'x[x]', ''])).join(','),
      ];
    case '_sort':
      return [
        name,
        [1, 2]
          .map(() => `${r.chance(0.3) ? '-' : ''}${r.pick([...codes, '_id', '_lastUpdated', ''])}`)
          .join(','),
      ];
    default: {
      const source = name === '_include' ? (r.chance(0.8) ? type : r.pick(TYPES)) : r.pick(TYPES);
      const parts = [
        source,
        r.pick([...codesOf(source), '*', 'x']),
        r.chance(0.3) ? r.pick(TYPES) : undefined,
      ];
      const modifier = r.chance(0.3) ? r.pick([':iterate', ':recurse', ':x']) : '';
      return [`${name}${modifier}`, r.chance(0.1) ? '*' : parts.filter(Boolean).join(':')];
    }
  }
}

function query(r: Random, type: string): string {
  const pairs: [string, string][] = [];
  const n = 1 + r.int(4);
  for (let i = 0; i < n; i++) {
    if (r.chance(0.25)) {
      pairs.push(resultParam(r, type));
      continue;
    }
    const name = paramName(r, type);
    const param = searchParamsFor(type).get(name.split(/[:.]/)[0]!);
    pairs.push([name, searchValue(r, param?.type)]);
  }
  if (r.chance(0.1)) pairs.push(['_format', r.pick(['json', 'xml', 'application/fhir+json', 'x'])]);
  return pairs.map(([name, value]) => `${encode(r, name)}=${encode(r, value)}`).join('&');
}

function headers(r: Random): Record<string, string> {
  const h: Record<string, string> = {
    authorization: `Bearer ${TOKENS[r.pick(CALLERS)]}`,
    accept: r.chance(0.9)
      ? r.pick(['application/fhir+json', 'application/json', '*/*'])
      : r.pick(['text/html', '', 'x', 'application/fhir+json;q=0', 'application/*;q=0.5']),
  };
  if (r.chance(0.3)) h.prefer = r.pick(['handling=strict', 'handling=lenient', 'return=x', 'x']);
  if (r.chance(0.1)) h['x-break-glass'] = r.pick(['emergency', '', 'x'.repeat(500), 'Zo\u00eb']);
  return h;
}

t.test('search answers every fuzzed query below 500, errors as OperationOutcomes', async (t) => {
  const { base } = await seededServer(t);
  const r = random(1);
  const verdicts = new Verdicts(t);
  const n = cases(700);
  for (let i = 0; i < n; i++) {
    const type = r.chance(0.95) ? r.pick(TYPES) : r.pick(['Nope', 'patient', '_history', '$x']);
    const q = query(r, type);
    const h = headers(r);
    if (r.chance(0.15)) {
      const form = { ...h, 'content-type': 'application/x-www-form-urlencoded' };
      verdicts.check(
        await send(base, 'POST', `${type}/_search`, form, q),
        'POST',
        `${type}/_search`,
        q,
      );
    } else {
      const method = r.chance(0.05) ? 'HEAD' : 'GET';
      verdicts.check(await send(base, method, `${type}?${q}`, h), method, `${type}?${q}`);
    }
  }
  verdicts.done();
});

t.test('tampered paging cursors are refused, never a 500', async (t) => {
  const { base } = await seededServer(t);
  const r = random(2);
  const verdicts = new Verdicts(t);
  const auth = { authorization: `Bearer ${TOKENS.system}` };
  const first = await send(base, 'GET', 'Patient?_count=1', auth);
  const next = (JSON.parse(first.text).link as { relation: string; url: string }[]).find(
    (link) => link.relation === 'next',
  );
  t.ok(next, 'a next link to tamper with');
  const url = new URL(next!.url);
  const cursor = url.searchParams.get('_cursor') ?? '';
  t.ok(cursor, 'the next link carries a cursor');
  const n = cases(150);
  for (let i = 0; i < n; i++) {
    const chars = [...cursor];
    for (let k = 0; k <= r.int(3); k++) chars[r.int(chars.length)] = randomText(r, 1);
    const tampered = r.chance(0.2)
      ? r.pick([
          '',
          '.',
          '..',
          'x'.repeat(3000),
          `${cursor}${cursor}`,
          cursor.slice(0, -1),
          '\u0000',
        ])
      : chars.join('');
    const params = new URLSearchParams(url.searchParams);
    params.set('_cursor', tampered);
    if (r.chance(0.3)) params.set(r.pick(['_count', 'name', '_sort']), hostileValue(r));
    const type = r.chance(0.8) ? 'Patient' : r.pick(TYPES);
    const caller = r.pick(CALLERS);
    const path = `${type}?${params}`;
    verdicts.check(
      await send(base, 'GET', path, { authorization: `Bearer ${TOKENS[caller]}` }),
      'GET',
      path,
    );
  }
  verdicts.done();
});
