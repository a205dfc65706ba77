import fhirpath from 'fhirpath';
import r4 from 'fhirpath/fhir-context/r4';
import t from 'tap';
import { RESOURCE_TYPES } from '../../src/fhir/resource-types.js';
import {
  extractIndexValues,
  extractIndexValuesFor,
  normaliseString,
  writeTimeExpression,
  type IndexValues,
} from '../../src/search/extract.js';
import { searchParamsFor } from '../../src/search/registry.js';
import { def, rows } from './rows.js';

type Resource = { resourceType: string } & Record<string, unknown>;

t.test('every registered expression compiles and runs at write time', async (t) => {
  const options = {
    userInvocationTable: { refTypeIs: { fn: () => [false], arity: { 1: ['String' as const] } } },
  };
  for (const type of RESOURCE_TYPES.keys()) {
    for (const param of searchParamsFor(type).values()) {
      const expression = writeTimeExpression(param.expression);
      t.notMatch(expression, /resolve\(/, `${type}.${param.code} has no resolve() left`);
      t.doesNotThrow(
        () => fhirpath.compile(expression, r4, options)({ resourceType: type }),
        `${type}.${param.code}`,
      );
    }
  }
});

t.test('normaliseString lowercases, strips accents and collapses whitespace', async (t) => {
  t.equal(normaliseString('Müller'), 'muller');
  t.equal(normaliseString('  José  María\tÁLVAREZ '), 'jose maria alvarez');
  t.equal(normaliseString('İstanbul'), 'istanbul');
  t.equal(normaliseString('Ærø'), 'ærø', 'letters that are not base + mark stay');
});

t.test('HumanName indexes family, given, prefix, suffix and text separately', async (t) => {
  const values = extractIndexValues({
    resourceType: 'Patient',
    name: [
      {
        family: 'Müller',
        given: ['Ånna', 'Maria'],
        prefix: ['Dr.'],
        suffix: ['PhD'],
        text: 'Dr. Anna Müller',
      },
    ],
  });
  t.same(rows(values, 'strings', 'name'), [
    { value: 'muller', exact: 'Müller' },
    { value: 'anna', exact: 'Ånna' },
    { value: 'maria', exact: 'Maria' },
    { value: 'dr.', exact: 'Dr.' },
    { value: 'phd', exact: 'PhD' },
    { value: 'dr. anna muller', exact: 'Dr. Anna Müller' },
  ]);
  t.same(rows(values, 'strings', 'family'), [{ value: 'muller', exact: 'Müller' }]);
  t.same(
    rows(values, 'strings', 'given').map((row) => row.value),
    ['anna', 'maria'],
  );
});

t.test('Address indexes its lines and parts separately', async (t) => {
  const values = extractIndexValues({
    resourceType: 'Organization',
    name: 'Clinique Saint-Éloi',
    address: [
      {
        line: ['12 Rue de la Paix', 'Bât. B'],
        city: 'Paris',
        district: 'IIe',
        state: 'IDF',
        postalCode: '75002',
        country: 'FR',
        text: '12 Rue de la Paix, Paris',
      },
    ],
  });
  t.same(
    rows(values, 'strings', 'address').map((row) => row.value),
    [
      '12 rue de la paix',
      'bat. b',
      'paris',
      'iie',
      'idf',
      '75002',
      'fr',
      '12 rue de la paix, paris',
    ],
  );
  t.same(rows(values, 'strings', 'address-city'), [{ value: 'paris', exact: 'Paris' }]);
  t.same(
    rows(values, 'strings', 'name'),
    [{ value: 'clinique saint-eloi', exact: 'Clinique Saint-Éloi' }],
    'plain string',
  );
});

t.test('a Coding is a token with its display as text', async (t) => {
  const values = extractIndexValues({
    resourceType: 'Encounter',
    class: {
      system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode',
      code: 'AMB',
      display: 'Ambulatory',
    },
  });
  t.same(rows(values, 'tokens', 'class'), [
    {
      system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode',
      value: 'AMB',
      text: 'ambulatory',
    },
  ]);
});

t.test('a CodeableConcept gives a row per coding, and its text', async (t) => {
  const values = extractIndexValues({
    resourceType: 'Observation',
    code: {
      coding: [
        { system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' },
        { system: 'http://snomed.info/sct', code: '364075005' },
      ],
      text: 'Pulse',
    },
    category: [{ text: 'Vital Signs' }],
  });
  t.same(rows(values, 'tokens', 'code'), [
    { system: 'http://loinc.org', value: '8867-4', text: 'heart rate' },
    { system: 'http://snomed.info/sct', value: '364075005', text: 'pulse' },
  ]);
  t.same(rows(values, 'tokens', 'category'), [{ system: null, value: null, text: 'vital signs' }]);

  const displayed = extractIndexValues({
    resourceType: 'Observation',
    code: {
      coding: [{ system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' }],
      text: 'Pulse',
    },
  });
  t.same(
    rows(displayed, 'tokens', 'code'),
    [
      { system: 'http://loinc.org', value: '8867-4', text: 'heart rate' },
      { system: null, value: null, text: 'pulse' },
    ],
    'a text no coding shows still gets a row for :text',
  );
});

t.test('an Identifier is a token with its type text', async (t) => {
  const values = extractIndexValues({
    resourceType: 'Patient',
    identifier: [
      {
        system: 'urn:oid:1.2.36.146.595.217.0.1',
        value: '12345',
        type: { text: 'Medical Record Number' },
      },
      { value: 'no-system' },
    ],
  });
  t.same(rows(values, 'tokens', 'identifier'), [
    { system: 'urn:oid:1.2.36.146.595.217.0.1', value: '12345', text: 'medical record number' },
    { system: null, value: 'no-system', text: null },
  ]);
});

t.test('a ContactPoint token is its value alone', async (t) => {
  const values = extractIndexValues({
    resourceType: 'Practitioner',
    telecom: [
      { system: 'phone', value: '+33 1 23 45 67 89' },
      { system: 'email', value: 'dr@example.org' },
    ],
  });
  t.same(rows(values, 'tokens', 'telecom'), [
    { system: null, value: '+33 1 23 45 67 89', text: null },
    { system: null, value: 'dr@example.org', text: null },
  ]);
  t.same(rows(values, 'tokens', 'email'), [{ system: null, value: 'dr@example.org', text: null }]);
  t.same(rows(values, 'tokens', 'phone'), [
    { system: null, value: '+33 1 23 45 67 89', text: null },
  ]);
});

t.test('code, id and boolean primitives are tokens without a system', async (t) => {
  const values = extractIndexValues({
    resourceType: 'Patient',
    id: 'p1',
    gender: 'female',
    active: true,
    deceasedDateTime: '2020-01-01',
  });
  t.same(rows(values, 'tokens', '_id'), [{ system: null, value: 'p1', text: null }]);
  t.same(rows(values, 'tokens', 'gender'), [{ system: null, value: 'female', text: null }]);
  t.same(rows(values, 'tokens', 'active'), [{ system: null, value: 'true', text: null }]);
  t.same(rows(values, 'tokens', 'deceased'), [{ system: null, value: 'true', text: null }]);
});

t.test('a date is indexed over its precision', async (t) => {
  const values = extractIndexValues({ resourceType: 'Patient', birthDate: '1970' });
  t.same(rows(values, 'dates', 'birthdate'), [
    { start: '1970-01-01T00:00:00.000Z', end: '1970-12-31T23:59:59.999Z' },
  ]);
});

t.test('a dateTime is indexed in UTC', async (t) => {
  const values = extractIndexValues({
    resourceType: 'Observation',
    effectiveDateTime: '2020-01-01T10:00:00+02:00',
    meta: { lastUpdated: '2024-05-06T07:08:09.010Z' },
  });
  t.same(rows(values, 'dates', 'date'), [
    { start: '2020-01-01T08:00:00.000Z', end: '2020-01-01T08:00:00.999Z' },
  ]);
  t.same(rows(values, 'dates', '_lastUpdated'), [
    { start: '2024-05-06T07:08:09.010Z', end: '2024-05-06T07:08:09.010Z' },
  ]);
});

t.test('a Period spans start to end, open ends are infinite', async (t) => {
  const closed = extractIndexValues({
    resourceType: 'Encounter',
    period: { start: '2020-01-01', end: '2020-01-02T12:00:00Z' },
  });
  t.same(rows(closed, 'dates', 'date'), [
    { start: '2020-01-01T00:00:00.000Z', end: '2020-01-02T12:00:00.999Z' },
  ]);
  const open = extractIndexValues({ resourceType: 'Encounter', period: { start: '2020-01' } });
  t.same(rows(open, 'dates', 'date'), [{ start: '2020-01-01T00:00:00.000Z', end: 'infinity' }]);
});

t.test('a Timing is indexed by its events', async (t) => {
  const values = extractIndexValues({
    resourceType: 'MedicationRequest',
    dosageInstruction: [{ timing: { event: ['2021-03-04T08:00:00Z'] } }],
  });
  t.same(rows(values, 'dates', 'date'), [
    { start: '2021-03-04T08:00:00.000Z', end: '2021-03-04T08:00:00.999Z' },
  ]);
  const timing = extractIndexValuesFor(
    {
      resourceType: 'MedicationRequest',
      dosageInstruction: [{ timing: { event: ['2021-03-04'] } }],
    },
    [def('MedicationRequest', 'timing', 'date', 'MedicationRequest.dosageInstruction.timing')],
  );
  t.same(rows(timing, 'dates', 'timing'), [
    { start: '2021-03-04T00:00:00.000Z', end: '2021-03-04T23:59:59.999Z' },
  ]);
});

t.test('a Quantity is its value, system and code (or unit)', async (t) => {
  const values = extractIndexValues({
    resourceType: 'Observation',
    valueQuantity: {
      value: 72,
      unit: 'beats/minute',
      system: 'http://unitsofmeasure.org',
      code: '/min',
    },
    component: [{ code: { text: 'x' }, valueQuantity: { value: 1.5, unit: 'kg' } }],
  });
  t.same(rows(values, 'numbers', 'value-quantity'), [
    { value: 72, system: 'http://unitsofmeasure.org', unit: '/min' },
  ]);
  t.same(rows(values, 'numbers', 'component-value-quantity'), [
    { value: 1.5, system: null, unit: 'kg' },
  ]);
  const duration = extractIndexValues({
    resourceType: 'Encounter',
    length: { value: 30, unit: 'min', system: 'http://unitsofmeasure.org', code: 'min' },
  });
  t.same(rows(duration, 'numbers', 'length'), [
    { value: 30, system: 'http://unitsofmeasure.org', unit: 'min' },
  ]);
});

t.test('a Range is its low and high, a number is itself', async (t) => {
  const range = extractIndexValuesFor(
    {
      resourceType: 'Observation',
      valueRange: { low: { value: 1, unit: 'mg' }, high: { value: 3, unit: 'mg' } },
    },
    [def('Observation', 'value-range', 'quantity', 'Observation.value')],
  );
  t.same(rows(range, 'numbers', 'value-range'), [
    { value: 1, system: null, unit: 'mg' },
    { value: 3, system: null, unit: 'mg' },
  ]);
  const number = extractIndexValuesFor({ resourceType: 'Appointment', minutesDuration: 15 }, [
    def('Appointment', 'minutes', 'number', 'Appointment.minutesDuration'),
  ]);
  t.same(rows(number, 'numbers', 'minutes'), [{ value: 15, system: null, unit: null }]);
});

t.test('uri parameters index the string as is', async (t) => {
  const values = extractIndexValues({
    resourceType: 'DocumentReference',
    meta: {
      profile: ['http://hl7.org/fhir/us/core/StructureDefinition/us-core-documentreference'],
      source: 'urn:src',
    },
    content: [{ attachment: { url: 'https://example.org/doc.pdf' } }],
  });
  t.same(rows(values, 'uris', '_profile'), [
    { value: 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-documentreference' },
  ]);
  t.same(rows(values, 'uris', '_source'), [{ value: 'urn:src' }]);
  t.same(rows(values, 'uris', 'location'), [{ value: 'https://example.org/doc.pdf' }]);
});

t.test('identical rows are indexed once', async (t) => {
  const values = extractIndexValues({
    resourceType: 'Patient',
    name: [
      { family: 'Smith', given: ['Ann'] },
      { family: 'SMITH', given: ['Ann'] },
    ],
    identifier: [
      { system: 'urn:x', value: '1' },
      { system: 'urn:x', value: '1' },
    ],
  });
  t.same(
    rows(values, 'strings', 'family'),
    [
      { value: 'smith', exact: 'Smith' },
      { value: 'smith', exact: 'SMITH' },
    ],
    'same normalised value, different exact spelling: both kept for :exact',
  );
  t.same(rows(values, 'tokens', 'identifier'), [{ system: 'urn:x', value: '1', text: null }]);
});

t.test('malformed values are skipped without throwing', async (t) => {
  const odd: Resource = {
    resourceType: 'Patient',
    birthDate: '1970-13-01',
    name: 'not-an-array',
    identifier: [
      { system: 42, value: { nested: true } },
      { system: 'urn:x', value: 'ok' },
    ],
    managingOrganization: { reference: 12 },
    generalPractitioner: [null, { reference: 'Practitioner/ok' }],
    telecom: [{ value: null }],
    meta: { lastUpdated: 'yesterday', tag: 'oops' },
  };
  let values: IndexValues | undefined;
  t.doesNotThrow(() => {
    values = extractIndexValues(odd);
  });
  t.same(values && rows(values, 'dates', 'birthdate'), []);
  t.same(values && rows(values, 'dates', '_lastUpdated'), []);
  t.same(values && rows(values, 'tokens', 'identifier'), [
    { system: 'urn:x', value: 'ok', text: null },
  ]);
  t.same(values && rows(values, 'references', 'general-practitioner'), [
    { targetType: 'Practitioner', targetId: 'ok', url: 'Practitioner/ok' },
  ]);
  const period = extractIndexValues({
    resourceType: 'Encounter',
    period: { start: 'bad', end: '2020' },
  });
  t.same(rows(period, 'dates', 'date'), [], 'a period with a malformed end is skipped whole');
  const quantity = extractIndexValues({
    resourceType: 'Observation',
    valueQuantity: { value: 'abc' },
  });
  t.same(rows(quantity, 'numbers', 'value-quantity'), []);
});

t.test('types without search parameters index nothing', async (t) => {
  t.same(extractIndexValues({ resourceType: 'Composition', title: 'x' }), {
    strings: [],
    tokens: [],
    dates: [],
    references: [],
    numbers: [],
    uris: [],
  });
});
