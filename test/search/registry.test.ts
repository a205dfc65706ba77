import t from 'tap';
import { RESOURCE_TYPES } from '../../src/fhir/resource-types.js';
import {
  expressionFor,
  searchParam,
  searchParamsFor,
  splitUnion,
  unsupportedSearchParam,
  type SearchParamType,
} from '../../src/search/registry.js';

/** US Core 5.0.1's search parameters for the types we serve, with their R4 types. */
const US_CORE: Record<string, Record<string, SearchParamType>> = {
  Patient: {
    identifier: 'token',
    name: 'string',
    family: 'string',
    given: 'string',
    birthdate: 'date',
    gender: 'token',
  },
  Encounter: {
    patient: 'reference',
    subject: 'reference',
    date: 'date',
    status: 'token',
    class: 'token',
    type: 'token',
    identifier: 'token',
  },
  MedicationRequest: {
    patient: 'reference',
    subject: 'reference',
    status: 'token',
    intent: 'token',
    authoredon: 'date',
    encounter: 'reference',
    medication: 'reference',
  },
  DocumentReference: {
    patient: 'reference',
    subject: 'reference',
    category: 'token',
    type: 'token',
    date: 'date',
    period: 'date',
    status: 'token',
    identifier: 'token',
  },
  Appointment: {
    patient: 'reference',
    actor: 'reference',
    practitioner: 'reference',
    date: 'date',
    status: 'token',
    'service-type': 'token',
  },
  Observation: {
    patient: 'reference',
    category: 'token',
    code: 'token',
    date: 'date',
    subject: 'reference',
  },
  AuditEvent: {
    date: 'date',
    agent: 'reference',
    entity: 'reference',
    patient: 'reference',
    type: 'token',
    subtype: 'token',
    action: 'token',
    outcome: 'token',
  },
  Practitioner: { identifier: 'token', name: 'string' },
  Slot: { schedule: 'reference', start: 'date', status: 'token' },
  Schedule: { actor: 'reference' },
  Provenance: { target: 'reference', patient: 'reference' },
};

t.test('the US Core 5.0.1 parameters exist with their R4 types', async (t) => {
  for (const [type, params] of Object.entries(US_CORE)) {
    for (const [code, paramType] of Object.entries(params)) {
      t.equal(searchParam(type, code)?.type, paramType, `${type}.${code}`);
    }
  }
});

t.test('every served type has the Resource parameters, rewritten to the type', async (t) => {
  for (const type of RESOURCE_TYPES.keys()) {
    const params = searchParamsFor(type);
    t.match(params.get('_id'), { type: 'token', expression: `${type}.id`, resourceType: type });
    t.match(params.get('_lastUpdated'), { type: 'date', expression: `${type}.meta.lastUpdated` });
    t.match(params.get('_tag'), { type: 'token', expression: `${type}.meta.tag` });
    t.match(params.get('_security'), { type: 'token', expression: `${type}.meta.security` });
    t.match(params.get('_profile'), { type: 'uri', expression: `${type}.meta.profile` });
    t.match(params.get('_source'), { type: 'uri', expression: `${type}.meta.source` });
  }
});

t.test('reference parameters carry their target types', async (t) => {
  t.same(searchParam('Encounter', 'patient')?.targets, ['Patient']);
  t.same([...(searchParam('Encounter', 'subject')?.targets ?? [])].sort(), ['Group', 'Patient']);
  t.same(searchParam('MedicationRequest', 'medication')?.targets, ['Medication']);
  t.same(searchParam('Slot', 'schedule')?.targets, ['Schedule']);
  t.same(searchParam('Provenance', 'patient')?.targets, ['Patient']);
  t.same(searchParam('Appointment', 'practitioner')?.targets, ['Practitioner']);
  t.ok(searchParam('Appointment', 'actor')?.targets.includes('Patient'));
  t.same(searchParam('Patient', 'birthdate')?.targets, [], 'non-references have no targets');
});

t.test('a multi-type union keeps only the parts for the type', async (t) => {
  t.equal(
    searchParam('Encounter', 'patient')?.expression,
    'Encounter.subject.where(resolve() is Patient)',
  );
  t.equal(searchParam('Observation', 'code')?.expression, 'Observation.code');
  t.equal(
    searchParam('MedicationRequest', 'medication')?.expression,
    '(MedicationRequest.medication as Reference)',
  );
  t.equal(searchParam('Medication', 'code')?.expression, 'Medication.code', 'not MedicationX.code');
  t.equal(searchParam('Patient', 'birthdate')?.expression, 'Patient.birthDate');
  t.equal(
    searchParam('AuditEvent', 'patient')?.expression,
    'AuditEvent.agent.who.where(resolve() is Patient) | AuditEvent.entity.what.where(resolve() is Patient)',
    'several parts for the same type are re-joined',
  );
  for (const type of RESOURCE_TYPES.keys()) {
    for (const def of searchParamsFor(type).values()) {
      const heads = splitUnion(def.expression).map((part) => /^\(*\s*([A-Za-z]+)/.exec(part)?.[1]);
      t.same(new Set(heads), new Set([type]), `${type}.${def.code} only reads ${type}`);
    }
  }
});

t.test('splitUnion splits only at top-level bars', async (t) => {
  t.same(splitUnion('A.b | (A.c as X) | A.d.where(e | f)'), [
    'A.b',
    '(A.c as X)',
    'A.d.where(e | f)',
  ]);
  t.same(splitUnion("A.b.where(x = 'p|q') | A.c"), ["A.b.where(x = 'p|q')", 'A.c']);
  t.same(splitUnion('A.b'), ['A.b']);
});

t.test('expressionFor rewrites Resource parts and drops other types', async (t) => {
  t.equal(expressionFor('Resource.meta.tag', 'Slot'), 'Slot.meta.tag');
  t.equal(expressionFor('(DomainResource.text as Narrative)', 'Slot'), '(Slot.text as Narrative)');
  t.equal(expressionFor('Schedule.actor | Slot.schedule', 'Slot'), 'Slot.schedule');
  t.equal(expressionFor('SlotX.a | Schedule.b', 'Slot'), '');
});

t.test('US Core adds its own codes, R4 definitions keep theirs', async (t) => {
  t.match(searchParam('Patient', 'race'), {
    type: 'token',
    url: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-race',
  });
  t.match(searchParam('Patient', 'ethnicity'), { type: 'token' });
  t.match(searchParam('Encounter', 'discharge-disposition'), { type: 'token' });
  t.equal(
    searchParam('Patient', 'gender')?.url,
    'http://hl7.org/fhir/SearchParameter/individual-gender',
  );
});

t.test('composite and expression-less parameters are unsupported, not indexed', async (t) => {
  t.equal(searchParam('Observation', 'code-value-quantity'), undefined);
  t.match(unsupportedSearchParam('Observation', 'code-value-quantity'), { type: 'composite' });
  t.match(unsupportedSearchParam('DocumentReference', 'relationship'), { type: 'composite' });
  t.match(unsupportedSearchParam('Patient', '_text'), { code: '_text' });
  t.equal(unsupportedSearchParam('Patient', 'birthdate'), undefined);
  for (const type of RESOURCE_TYPES.keys()) {
    for (const def of searchParamsFor(type).values()) {
      t.not(def.type as string, 'composite');
      t.not(def.type as string, 'special');
    }
  }
});

t.test('a multi-type description is narrowed to the line for the type', async (t) => {
  t.equal(
    searchParam('Encounter', 'patient')?.description,
    'The patient or group present at the encounter',
  );
  t.match(searchParam('Slot', 'start')?.description, /./);
  for (const type of RESOURCE_TYPES.keys()) {
    for (const def of searchParamsFor(type).values()) {
      t.notMatch(def.description, /Multiple Resources/, `${type}.${def.code}`);
    }
  }
});

t.test('unknown types and codes give nothing', async (t) => {
  t.equal(searchParamsFor('Composition').size, 0);
  t.equal(searchParam('Patient', 'no-such-param'), undefined);
  t.equal(searchParam('AuditEvent', 'purpose'), undefined, 'R4 has no AuditEvent purpose param');
});

t.test('the maps are built once', async (t) => {
  t.equal(searchParamsFor('Patient'), searchParamsFor('Patient'));
  t.ok(Object.isFrozen(searchParam('Patient', 'name')));
});
