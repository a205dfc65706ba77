/**
 * The plain-path walker (src/search/simple-paths.ts) must index exactly what FHIRPath does.
 * Every search parameter of every served type is evaluated both ways over every official R4
 * example of that type, plus the AuditEvents the server writes; wrapping an expression in
 * parentheses keeps it off the walker, so that side is FHIRPath's own answer.
 */
import type { AuditEvent, Resource } from 'fhir/r4.js';
import t from 'tap';
import { buildAuditEvent } from '../../src/audit/event.js';
import { RESOURCE_TYPES } from '../../src/fhir/resource-types.js';
import { extractIndexValuesFor } from '../../src/search/extract.js';
import { searchParamsFor } from '../../src/search/registry.js';
import { simplePathEvaluator } from '../../src/search/simple-paths.js';
import { officialExamples } from '../validation/r4-examples.js';

type Json = Resource & Record<string, unknown>;
const BASE = 'https://fhir.example/fhir';

function bothWays(resource: Json) {
  const defs = [...searchParamsFor(resource.resourceType).values()];
  const walked = extractIndexValuesFor(resource, defs, BASE);
  const viaFhirpath = extractIndexValuesFor(
    resource,
    defs.map((def) => ({ ...def, expression: `(${def.expression})` })),
    BASE,
  );
  return { walked, viaFhirpath };
}

t.test('plain paths are walked; anything else is left to FHIRPath', async (t) => {
  t.ok(simplePathEvaluator('AuditEvent.recorded'));
  t.ok(simplePathEvaluator('AuditEvent.purposeOfEvent | AuditEvent.agent.purposeOfUse'));
  t.ok(simplePathEvaluator("AuditEvent.entity.where(type.code = 'x').what"), 'equality filters');
  t.notOk(simplePathEvaluator('AuditEvent.entity.where(type.exists()).what'), 'other functions');
  t.notOk(
    simplePathEvaluator("Observation.component.where(valueString = 'x').code"),
    'a filter on a choice element',
  );
  t.notOk(
    simplePathEvaluator("AuditEvent.entity.where(type = 'x').what"),
    'a filter on a complex value',
  );
  t.notOk(simplePathEvaluator("Patient.active.where(value = 'x')"), 'ending in a filter');
  t.notOk(simplePathEvaluator('(Observation.value as Quantity)'), 'casts');
  t.ok(simplePathEvaluator('Patient.name.family'), 'into a datatype');
  t.ok(simplePathEvaluator('AuditEvent.meta.lastUpdated'), 'into Meta');
  t.ok(simplePathEvaluator('AuditEvent.id'), 'an id (System.String, typed string)');
  t.ok(
    simplePathEvaluator("AuditEvent.agent.who.where(refTypeIs('Patient'))"),
    'references to one type',
  );
  t.notOk(
    simplePathEvaluator("AuditEvent.recorded.where(refTypeIs('Patient'))"),
    'not a Reference',
  );
  t.notOk(simplePathEvaluator('Patient.birthDate.value'), "into a primitive's children");
  t.notOk(simplePathEvaluator('Observation.value'), 'a choice element');
  t.notOk(simplePathEvaluator('Patient.nonsense'), 'an element R4 lacks');
  const walked = simplePathEvaluator('AuditEvent.agent.who')!;
  t.same(
    walked({
      resourceType: 'AuditEvent',
      agent: [{ who: { reference: 'Practitioner/1' } }, {}, { who: { reference: 'Device/2' } }],
    }),
    [
      { data: { reference: 'Practitioner/1' }, fhirNodeDataType: 'FHIR.Reference' },
      { data: { reference: 'Device/2' }, fhirNodeDataType: 'FHIR.Reference' },
    ],
  );
  t.same(walked({ resourceType: 'Patient', agent: [{ who: {} }] }), [], 'other types: nothing');
  const phones = simplePathEvaluator("Patient.telecom.where(system='phone')")!;
  t.same(
    phones({
      resourceType: 'Patient',
      telecom: [
        { system: 'phone', value: '1' },
        { system: 'email', value: '2' },
        { value: '3' },
        { system: 'phone', value: '4' },
      ],
    }).map((node) => (node.data as { value: string }).value),
    ['1', '4'],
    'a filter keeps the nodes whose value is equal',
  );
  const requestIds = simplePathEvaluator(
    "AuditEvent.entity.where(type.code = 'XrequestId').what.identifier",
  )!;
  t.same(
    requestIds({
      resourceType: 'AuditEvent',
      entity: [
        { type: { code: 'XrequestId' }, what: { identifier: { value: 'r1' } } },
        { type: { code: 'other' }, what: { identifier: { value: 'r2' } } },
      ],
    }).map((node) => node.data),
    [{ value: 'r1' }],
    'filters mid-path',
  );
});

t.test('every official example of every served type indexes the same both ways', async (t) => {
  let compared = 0;
  let walkedParams = 0;
  for (const type of RESOURCE_TYPES.keys()) {
    for (const def of searchParamsFor(type).values()) {
      if (simplePathEvaluator(def.expression)) walkedParams++;
    }
  }
  t.ok(walkedParams > 50, `${walkedParams} parameters take the plain-path walk`);
  for (const [type, examples] of officialExamples([...RESOURCE_TYPES.keys()])) {
    for (const { file, resource } of examples) {
      const { walked, viaFhirpath } = bothWays(resource as Json);
      t.same(walked, viaFhirpath, `${type} ${file}`);
      compared++;
    }
  }
  t.ok(compared > 100, `${compared} examples compared`);
});

t.test('the AuditEvents the server writes index the same both ways', async (t) => {
  const events: AuditEvent[] = [
    buildAuditEvent({
      interaction: 'read',
      outcome: 'success',
      who: { reference: 'Practitioner/dr-1' },
      subject: 'user-1',
      requestId: 'req-1',
      entities: [{ reference: 'Observation/o-1' }],
      patient: 'Patient/p-1',
    }),
    buildAuditEvent({
      interaction: 'search',
      outcome: 'minor',
      who: { reference: 'Patient/p-2' },
      subject: 'user-2',
      clientId: 'app-1',
      address: '127.0.0.1',
      requestId: 'req-2',
      entities: [
        { reference: 'Patient/p-2', role: 'patient' },
        { reference: 'Encounter/e-1', role: 'domain' },
      ],
      patient: 'Patient/p-2',
      purposeOfUse: { code: 'BTG' },
      reason: 'emergency',
      query: '?name=x&_count=2',
    }),
  ];
  for (const event of events) {
    const stored = { ...event, id: 'a-1', meta: { versionId: '1' } } as Json;
    const { walked, viaFhirpath } = bothWays(stored);
    t.same(walked, viaFhirpath, event.subtype?.[0]?.code ?? 'event');
    t.ok(walked.references.length + walked.tokens.length > 0, 'and it indexed something');
  }
});
