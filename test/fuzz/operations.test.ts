/**
 * Fuzzing the operations: $book, $cancel, $start-visit, $end-visit, $prescribe, $expunge,
 * $everything, $docref and $validate, with Parameters built from their OperationDefinitions (operations/*.json) and
 * then broken: wrong value[x] types, hostile values, unknown, repeated and nested parameters,
 * bodies that aren't Parameters, odd ids and Idempotency-Keys.
 */
import { readFileSync } from 'node:fs';
import t from 'tap';
import { RESOURCE_TYPES } from '../../src/fhir/resource-types.js';
import { fromRoot } from '../../src/paths.js';
import { validResources } from '../fixtures.js';
import {
  CALLERS,
  cases,
  HOSTILE_STRINGS,
  random,
  randomText,
  seededServer,
  send,
  TOKENS,
  Verdicts,
  type Random,
} from './fuzz.js';

interface Definition {
  code: string;
  resource: string[];
  type: boolean;
  instance: boolean;
  parameter?: { name: string; use: string; type?: string; part?: unknown[] }[];
}

const FILES = [
  'book',
  'cancel',
  'start-visit',
  'end-visit',
  'prescribe',
  'expunge',
  'validate',
  'everything',
  'docref',
];
const DEFINITIONS = FILES.map(
  (file) => JSON.parse(readFileSync(fromRoot(`operations/${file}.json`), 'utf8')) as Definition,
);
const TYPES = [...RESOURCE_TYPES.keys()];

const future = (r: Random) =>
  new Date(Date.UTC(2031, r.int(12), 1 + r.int(28), r.int(24), r.pick([0, 15, 30]))).toISOString();

/** A value[x] for a parameter of `type`, right or wrong. */
function value(r: Random, type: string | undefined): [string, unknown] {
  const right: Record<string, () => unknown> = {
    Reference: () => ({
      reference: r.pick([
        'Patient/p1',
        'Practitioner/dr1',
        'Slot/x1',
        'Encounter/e1',
        'Patient/nope',
        'x',
        '',
      ]),
    }),
    dateTime: () => (r.chance(0.7) ? future(r) : r.pick(HOSTILE_STRINGS)),
    string: () => (r.chance(0.7) ? 'a reason' : r.pick(HOSTILE_STRINGS)),
    CodeableConcept: () => ({
      text: r.pick(HOSTILE_STRINGS),
      coding: [{ system: 'http://x', code: 'y' }],
    }),
    boolean: () => r.pick([true, false, 'true', 1]),
    code: () => r.pick(['create', 'update', 'delete', 'profile', 'x', '']),
    uri: () => r.pick(['http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient', 'x', '']),
    Dosage: () => ({
      text: '1 tablet daily',
      timing: { repeat: { frequency: r.pick([1, -1, 1e9, 'x']) } },
    }),
  };
  if (type && right[type] && r.chance(0.7))
    return [`value${type[0]!.toUpperCase()}${type.slice(1)}`, right[type]!()];
  const wrong = r.pick(Object.keys(right));
  return [`value${wrong[0]!.toUpperCase()}${wrong.slice(1)}`, right[wrong]!()];
}

function parameter(r: Random, definition: Definition): Record<string, unknown> {
  const declared = (definition.parameter ?? []).filter((p) => p.use === 'in');
  const spec =
    declared.length && r.chance(0.85)
      ? r.pick(declared)
      : { name: randomText(r, 4), type: undefined };
  const p: Record<string, unknown> = { name: spec.name };
  switch (r.int(8)) {
    case 0: {
      const make = validResources[r.pick(Object.keys(validResources))]!;
      p.resource = r.chance(0.8) ? make() : { resourceType: r.pick(['Nope', 'Parameters', '']) };
      break;
    }
    case 1:
      p.part = [parameter(r, definition)];
      break;
    case 2:
      break; // a name and no value
    default: {
      const [key, v] = value(r, spec.type);
      p[key] = v;
      if (spec.name === 'medication' && r.chance(0.5)) {
        delete p[key];
        p.valueCodeableConcept = {
          coding: [{ system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: '1049221' }],
        };
      }
    }
  }
  return p;
}

function parameters(r: Random, definition: Definition): unknown {
  if (r.chance(0.1))
    return r.pick([
      null,
      [],
      'x',
      { resourceType: 'Patient' },
      { resourceType: 'Parameters', parameter: 'x' },
    ]);
  const declared = (definition.parameter ?? []).filter((p) => p.use === 'in');
  const list = declared
    .filter(() => r.chance(0.7))
    .map((spec) => parameter(r, { ...definition, parameter: [spec] }));
  for (let k = r.int(3); k > 0; k--) list.push(parameter(r, definition));
  return { resourceType: 'Parameters', parameter: list };
}

t.test(
  'the operations answer every fuzzed call below 500, errors as OperationOutcomes',
  async (t) => {
    const { base } = await seededServer(t);
    const r = random(6);
    const verdicts = new Verdicts(t);
    const n = cases(400);
    for (let i = 0; i < n; i++) {
      const definition = r.pick(DEFINITIONS);
      const type = definition.resource[0] === 'Resource' ? r.pick(TYPES) : definition.resource[0]!;
      const instance = definition.instance && (!definition.type || r.chance(0.5));
      const id = r.pick(['x1', 'p1', 'e1', 'nope', 'x'.repeat(65), '%00', '..']);
      const path = instance ? `${type}/${id}/$${definition.code}` : `${type}/$${definition.code}`;
      const headers: Record<string, string> = {
        authorization: `Bearer ${TOKENS[r.pick(CALLERS)]}`,
        'content-type': 'application/fhir+json',
        accept: 'application/fhir+json',
      };
      if (r.chance(0.2))
        headers['idempotency-key'] = r.pick(['k1', 'k2', '', 'x'.repeat(300), 'caf\u00e9', 'a b']);
      if (r.chance(0.1)) headers['x-break-glass'] = r.pick(['emergency', '']);
      const method = r.chance(0.9) ? 'POST' : r.pick(['GET', 'PUT', 'DELETE']);
      const text =
        method === 'POST' || method === 'PUT'
          ? JSON.stringify(parameters(r, definition))
          : undefined;
      verdicts.check(await send(base, method, path, headers, text), method, path, text);
    }
    verdicts.done();
  },
);

t.test('the reading operations answer every fuzzed URL below 500', async (t) => {
  const { base } = await seededServer(t);
  const r = random(7);
  const verdicts = new Verdicts(t);
  const names = [
    '_since',
    '_type',
    '_count',
    '_cursor',
    'patient',
    'start',
    'end',
    'type',
    'on-demand',
    'x',
  ];
  const values = () =>
    r.pick([
      'p1',
      'Observation,Encounter',
      'Observation,,',
      'Slot',
      '2024-01-01',
      '2024-13-45T99:00:00Z',
      'http://loinc.org|11506-3',
      '|',
      'true',
      '-1',
      '1e9',
      ...HOSTILE_STRINGS,
    ]);
  for (let i = 0; i < cases(200); i++) {
    const query = new URLSearchParams();
    for (let k = r.int(4); k > 0; k--) query.append(r.pick(names), values());
    const id = r.pick(['p1', 'nope', '..', 'x'.repeat(65)]);
    const path = r.chance(0.5)
      ? `Patient/${encodeURIComponent(id)}/$everything?${query}`
      : `DocumentReference/$docref?${query}`;
    const headers = {
      authorization: `Bearer ${TOKENS[r.pick(CALLERS)]}`,
      accept: 'application/fhir+json',
    };
    verdicts.check(await send(base, 'GET', path, headers, undefined), 'GET', path, undefined);
  }
  verdicts.done();
});
