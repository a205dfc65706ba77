import { readFileSync } from 'node:fs';
import t, { type Test } from 'tap';
import type {
  Appointment,
  DocumentReference,
  ElementDefinition,
  Encounter,
  MedicationRequest,
  Observation,
  Organization,
  Patient,
  Practitioner,
  Resource,
} from 'fhir/r4.js';
import { fromRoot } from '../../src/paths.js';
import { createProfileChecker, loadProfiles } from '../../src/validation/profiles.js';
import type { ValidationIssue } from '../../src/validation/validator.js';

const US_CORE = 'http://hl7.org/fhir/us/core/StructureDefinition/';
const TELEFHIR = 'http://telefhir.dev/fhir/StructureDefinition/';
const PATIENT = `${US_CORE}us-core-patient`;
const ENCOUNTER = `${US_CORE}us-core-encounter`;
const MEDICATION_REQUEST = `${US_CORE}us-core-medicationrequest`;
const DOCUMENT_REFERENCE = `${US_CORE}us-core-documentreference`;
const PRACTITIONER = `${US_CORE}us-core-practitioner`;
const ORGANIZATION = `${US_CORE}us-core-organization`;
const OBSERVATION_LAB = `${US_CORE}us-core-observation-lab`;
const APPOINTMENT = `${TELEFHIR}telefhir-telehealth-appointment`;
const VIRTUAL_ENCOUNTER = `${TELEFHIR}telefhir-virtual-encounter`;

const registry = loadProfiles();
const check = createProfileChecker(registry);

const errors = (issues: ValidationIssue[]) => issues.filter((i) => i.severity === 'error');
const at = (issues: ValidationIssue[], expression: string) =>
  issues.filter((i) => i.expression === expression);

const race = {
  url: `${US_CORE}us-core-race`,
  extension: [
    {
      url: 'ombCategory',
      valueCoding: { system: 'urn:oid:2.16.840.1.113883.6.238', code: '2106-3', display: 'White' },
    },
    { url: 'text', valueString: 'White' },
  ],
};

const patient: Patient = {
  resourceType: 'Patient',
  extension: [race],
  identifier: [{ system: 'http://hospital.example.org/mrn', value: '12345' }],
  name: [{ family: 'Shaw', given: ['Amy', 'V.'] }],
  telecom: [{ system: 'phone', value: '555-0100', use: 'home' }],
  gender: 'female',
  birthDate: '1987-02-20',
};

const encounter: Encounter = {
  resourceType: 'Encounter',
  identifier: [{ system: 'http://hospital.example.org/visit', value: 'v-1' }],
  status: 'finished',
  class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
  type: [{ coding: [{ system: 'http://www.ama-assn.org/go/cpt', code: '99213' }] }],
  subject: { reference: 'Patient/p1' },
  participant: [{ individual: { reference: 'Practitioner/d1' } }],
  period: { start: '2024-03-01T10:00:00Z', end: '2024-03-01T10:30:00Z' },
};

const virtualEncounter: Encounter = {
  ...encounter,
  class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'VR' },
};

const medicationRequest: MedicationRequest = {
  resourceType: 'MedicationRequest',
  status: 'active',
  intent: 'order',
  category: [
    {
      coding: [
        {
          system: 'http://terminology.hl7.org/CodeSystem/medicationrequest-category',
          code: 'outpatient',
        },
      ],
    },
  ],
  medicationCodeableConcept: {
    coding: [{ system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: '197361' }],
  },
  subject: { reference: 'Patient/p1' },
  encounter: { reference: 'Encounter/e1' },
  authoredOn: '2024-03-01',
  requester: { reference: 'Practitioner/d1' },
  dosageInstruction: [{ text: 'one tablet daily' }],
};

const documentReference: DocumentReference = {
  resourceType: 'DocumentReference',
  status: 'current',
  type: { coding: [{ system: 'http://loinc.org', code: '11506-3' }] },
  category: [
    {
      coding: [
        {
          system: 'http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category',
          code: 'clinical-note',
        },
      ],
    },
  ],
  subject: { reference: 'Patient/p1' },
  date: '2024-03-01T10:30:00Z',
  author: [{ reference: 'Practitioner/d1' }],
  content: [{ attachment: { contentType: 'text/plain', url: 'Binary/b1' } }],
  context: { encounter: [{ reference: 'Encounter/e1' }] },
};

const practitioner: Practitioner = {
  resourceType: 'Practitioner',
  identifier: [{ system: 'http://hl7.org/fhir/sid/us-npi', value: '1234567893' }],
  name: [{ family: 'Nguyen', given: ['Lan'] }],
};

const organization: Organization = {
  resourceType: 'Organization',
  identifier: [{ system: 'http://hl7.org/fhir/sid/us-npi', value: '1144221847' }],
  active: true,
  name: 'Telefhir Clinic',
};

const labCategory = {
  coding: [
    { system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' },
  ],
};

const observationLab: Observation = {
  resourceType: 'Observation',
  status: 'final',
  category: [labCategory],
  code: { coding: [{ system: 'http://loinc.org', code: '2339-0' }] },
  subject: { reference: 'Patient/p1' },
  effectiveDateTime: '2024-03-01T09:00:00Z',
  valueQuantity: {
    value: 5.4,
    unit: 'mmol/L',
    system: 'http://unitsofmeasure.org',
    code: 'mmol/L',
  },
};

const appointment: Appointment = {
  resourceType: 'Appointment',
  status: 'booked',
  start: '2024-03-01T10:00:00Z',
  end: '2024-03-01T10:30:00Z',
  participant: [
    { actor: { reference: 'Patient/p1' }, status: 'accepted' },
    { actor: { reference: 'Practitioner/d1' }, status: 'accepted' },
  ],
};

/** A copy of `resource` with `changes` applied; a change to undefined removes the property. */
function edit<T extends Resource>(resource: T, changes: Record<string, unknown>): T {
  const copy = structuredClone(resource) as Record<string, unknown>;
  for (const [key, value] of Object.entries(changes)) {
    if (value === undefined) delete copy[key];
    else copy[key] = value;
  }
  return copy as T;
}

/** A directory holding one Patient profile of ours, `name`, with these differential elements. */
function patientProfileDir(t: Test, name: string, element: ElementDefinition[]): string {
  return t.testdir({
    [`${name}.json`]: JSON.stringify({
      resourceType: 'StructureDefinition',
      url: `http://example.org/StructureDefinition/${name}`,
      name,
      status: 'active',
      kind: 'resource',
      abstract: false,
      type: 'Patient',
      baseDefinition: 'http://hl7.org/fhir/StructureDefinition/Patient',
      derivation: 'constraint',
      differential: { element },
    }),
  });
}

t.test('valid resources pass their profiles with no errors', async (t) => {
  const cases: [string, Resource, string][] = [
    ['US Core Patient', patient, PATIENT],
    ['US Core Encounter', encounter, ENCOUNTER],
    ['US Core MedicationRequest', medicationRequest, MEDICATION_REQUEST],
    ['US Core DocumentReference', documentReference, DOCUMENT_REFERENCE],
    ['US Core Practitioner', practitioner, PRACTITIONER],
    ['US Core Organization', organization, ORGANIZATION],
    ['US Core Observation lab', observationLab, OBSERVATION_LAB],
    ['telehealth Appointment', appointment, APPOINTMENT],
    ['virtual Encounter', virtualEncounter, VIRTUAL_ENCOUNTER],
  ];
  for (const [name, resource, url] of cases) {
    t.same(errors(check(resource, url)), [], name);
  }
});

t.test('a US Core Patient without identifier fails Patient.identifier as required', async (t) => {
  const issues = check(edit(patient, { identifier: undefined }), PATIENT);
  t.match(errors(issues), [{ code: 'required', expression: 'Patient.identifier' }]);
  t.equal(errors(issues).length, 1);
});

t.test('a US Core Patient without name fails Patient.name and us-core-6', async (t) => {
  const issues = errors(check(edit(patient, { name: undefined }), PATIENT));
  t.match(at(issues, 'Patient.name'), [{ code: 'required' }]);
  t.match(at(issues, 'Patient'), [{ code: 'invariant', diagnostics: /^us-core-6:/ }]);
});

t.test('gender "robot" fails the required administrative-gender binding', async (t) => {
  const issues = errors(check(edit(patient, { gender: 'robot' }), PATIENT));
  t.match(issues, [
    {
      code: 'value',
      expression: 'Patient.gender',
      diagnostics:
        /'robot' is not in the required ValueSet http:\/\/hl7.org\/fhir\/ValueSet\/administrative-gender/,
    },
  ]);
  t.equal(issues.length, 1);
});

t.test('a required binding inside an unfolded data type is checked with its index', async (t) => {
  const issues = errors(
    check(
      edit(patient, { telecom: [patient.telecom?.[0], { system: 'carrier-pigeon', value: '1' }] }),
      PATIENT,
    ),
  );
  t.match(issues, [{ code: 'value', expression: 'Patient.telecom[1].system' }]);
});

t.test('MedicationRequest intent "wish" fails the medicationrequest-intent binding', async (t) => {
  const issues = errors(check(edit(medicationRequest, { intent: 'wish' }), MEDICATION_REQUEST));
  t.match(issues, [{ code: 'value', expression: 'MedicationRequest.intent' }]);
  t.equal(issues.length, 1);
});

t.test('a virtual Encounter with class AMB fails the VR pattern on Encounter.class', async (t) => {
  const issues = errors(check(encounter, VIRTUAL_ENCOUNTER));
  t.match(issues, [{ code: 'value', expression: 'Encounter.class', diagnostics: /patternCoding/ }]);
  t.equal(issues.length, 1);
  t.same(errors(check(encounter, ENCOUNTER)), [], 'plain US Core Encounter allows AMB');
});

t.test('the virtual Encounter inherits US Core Encounter requirements', async (t) => {
  const issues = errors(check(edit(virtualEncounter, { subject: undefined }), VIRTUAL_ENCOUNTER));
  t.match(issues, [{ code: 'required', expression: 'Encounter.subject' }]);
});

t.test('an Appointment with two patients fails tfa-1', async (t) => {
  const twoPatients = edit(appointment, {
    participant: [
      ...appointment.participant,
      { actor: { reference: 'Patient/p2' }, status: 'accepted' },
    ],
  });
  const issues = errors(check(twoPatients, APPOINTMENT));
  t.match(issues, [{ code: 'invariant', expression: 'Appointment', diagnostics: /^tfa-1:/ }]);
  t.equal(issues.length, 1);
});

t.test('an Appointment without a practitioner fails tfa-2', async (t) => {
  const noPractitioner = edit(appointment, { participant: [appointment.participant[0]] });
  const issues = errors(check(noPractitioner, APPOINTMENT));
  t.match(issues, [{ code: 'invariant', expression: 'Appointment', diagnostics: /^tfa-2:/ }]);
  t.equal(issues.length, 1);
});

t.test('a booked Appointment without start fails tfa-3', async (t) => {
  const issues = errors(check(edit(appointment, { start: undefined }), APPOINTMENT));
  t.match(issues, [{ code: 'invariant', expression: 'Appointment', diagnostics: /^tfa-3:/ }]);
  t.equal(issues.length, 1);
  t.same(
    errors(
      check(
        edit(appointment, { status: 'proposed', start: undefined, end: undefined }),
        APPOINTMENT,
      ),
    ),
    [],
  );
});

t.test(
  'an Observation lab without the Laboratory category slice fails Observation.category',
  async (t) => {
    const vitals = {
      coding: [
        {
          system: 'http://terminology.hl7.org/CodeSystem/observation-category',
          code: 'vital-signs',
        },
      ],
    };
    const issues = errors(check(edit(observationLab, { category: [vitals] }), OBSERVATION_LAB));
    t.match(issues, [
      { code: 'required', expression: 'Observation.category', diagnostics: /slice 'Laboratory'/ },
    ]);
    t.equal(issues.length, 1);
    t.same(
      errors(check(edit(observationLab, { category: [vitals, labCategory] }), OBSERVATION_LAB)),
      [],
    );
  },
);

t.test('an Observation lab with neither value nor dataAbsentReason fails us-core-2', async (t) => {
  const issues = errors(check(edit(observationLab, { valueQuantity: undefined }), OBSERVATION_LAB));
  t.match(issues, [{ code: 'invariant', expression: 'Observation', diagnostics: /^us-core-2:/ }]);
});

t.test('US Core MedicationRequest.subject referring to a Group fails as invalid', async (t) => {
  // US Core 5.0.1 narrows subject to Reference(US Core Patient)
  const issues = errors(
    check(edit(medicationRequest, { subject: { reference: 'Group/1' } }), MEDICATION_REQUEST),
  );
  t.match(issues, [
    { code: 'invalid', expression: 'MedicationRequest.subject', diagnostics: /Group.*Patient/ },
  ]);
  t.equal(issues.length, 1);
});

t.test('contained, absolute and logical references are not type-checked', async (t) => {
  for (const subject of [
    { reference: '#g1' },
    { reference: 'https://other.example.org/fhir/Group/1' },
    { identifier: { system: 'urn:x', value: '1' } },
  ]) {
    t.same(
      errors(check(edit(medicationRequest, { subject }), MEDICATION_REQUEST)),
      [],
      JSON.stringify(subject),
    );
  }
});

t.test('a reference to a target given by a US Core profile is checked by its type', async (t) => {
  const issues = errors(
    check(edit(encounter, { serviceProvider: { reference: 'Patient/p1' } }), ENCOUNTER),
  );
  t.match(issues, [{ code: 'invalid', expression: 'Encounter.serviceProvider' }]);
});

t.test('a second NPI on a Practitioner exceeds the NPI slice max of 1', async (t) => {
  const twoNpis = edit(practitioner, {
    identifier: [
      ...(practitioner.identifier ?? []),
      { system: 'http://hl7.org/fhir/sid/us-npi', value: '1' },
    ],
  });
  const issues = errors(check(twoNpis, PRACTITIONER));
  t.match(issues, [
    { code: 'structure', expression: 'Practitioner.identifier', diagnostics: /slice 'NPI'/ },
  ]);
  t.equal(issues.length, 1);
});

t.test('an extension slice is validated against its extension definition', async (t) => {
  t.test('race with a value (max 0 in us-core-race) fails at the value', async (t) => {
    const issues = errors(
      check(edit(patient, { extension: [{ ...race, valueString: 'White' }] }), PATIENT),
    );
    t.match(issues, [
      { code: 'structure', expression: 'Patient.extension[0].valueString', diagnostics: /max 0/ },
    ]);
    t.equal(issues.length, 1);
  });
  t.test('race without its required text sub-extension fails', async (t) => {
    const noText = { ...race, extension: race.extension.slice(0, 1) };
    const issues = errors(check(edit(patient, { extension: [noText] }), PATIENT));
    t.match(issues, [
      {
        code: 'required',
        expression: 'Patient.extension[0].extension',
        diagnostics: /slice 'text'/,
      },
    ]);
  });
  t.test('an ombCategory with a valueCode has the wrong type', async (t) => {
    const wrongType = {
      ...race,
      extension: [{ url: 'ombCategory', valueCode: '2106-3' }, race.extension[1]],
    };
    const issues = errors(check(edit(patient, { extension: [wrongType] }), PATIENT));
    t.match(issues, [
      { code: 'structure', expression: 'Patient.extension[0].extension[0].valueCode' },
    ]);
  });
  t.test('two race extensions exceed the race slice max of 1', async (t) => {
    const issues = errors(check(edit(patient, { extension: [race, race] }), PATIENT));
    t.match(issues, [
      { code: 'structure', expression: 'Patient.extension', diagnostics: /slice 'race'/ },
    ]);
  });
  t.test('an unknown extension is allowed: extension slicing is open', async (t) => {
    const other = { url: 'http://example.org/ext', valueString: 'x' };
    t.same(errors(check(edit(patient, { extension: [race, other] }), PATIENT)), []);
  });
});

t.test('a resource with several problems reports them all', async (t) => {
  const bad = edit(patient, {
    identifier: undefined,
    gender: 'robot',
    name: [{ text: 'no parts' }],
    telecom: [{ system: 'phone' }],
  });
  const issues = errors(check(bad, PATIENT));
  const expressions = issues.map((i) => i.expression).sort();
  t.same(expressions, [
    'Patient',
    'Patient.gender',
    'Patient.identifier',
    'Patient.telecom[0].value',
  ]);
});

t.test('a closed slicing rejects items that match no slice', async (t) => {
  const dir = patientProfileDir(t, 'closed-identifier', [
    {
      id: 'Patient.identifier',
      path: 'Patient.identifier',
      slicing: { discriminator: [{ type: 'value', path: 'system' }], rules: 'closed' },
    },
    { id: 'Patient.identifier:mrn', path: 'Patient.identifier', sliceName: 'mrn', min: 1 },
    {
      id: 'Patient.identifier:mrn.system',
      path: 'Patient.identifier.system',
      fixedUri: 'urn:mrn',
    },
  ]);
  const local = loadProfiles(dir);
  const checkLocal = createProfileChecker(local);
  const url = 'http://example.org/StructureDefinition/closed-identifier';
  const ok: Patient = { resourceType: 'Patient', identifier: [{ system: 'urn:mrn', value: '1' }] };
  t.same(errors(checkLocal(ok, url)), []);
  const other: Patient = {
    resourceType: 'Patient',
    identifier: [
      { system: 'urn:mrn', value: '1' },
      { system: 'urn:ssn', value: '2' },
    ],
  };
  t.match(errors(checkLocal(other, url)), [
    { code: 'structure', expression: 'Patient.identifier[1]', diagnostics: /closed/ },
  ]);
});

t.test('a profile is only applied to its own resource type', async (t) => {
  t.match(check(patient, ENCOUNTER), [
    { severity: 'error', code: 'invalid', expression: 'Patient' },
  ]);
});

t.test('an unknown profile gives a warning, not an error', async (t) => {
  t.match(check(patient, 'http://example.org/StructureDefinition/nope'), [
    { severity: 'warning', code: 'not-supported' },
  ]);
});

t.test('registry: get() finds a profile by url and by url|5.0.1', async (t) => {
  t.equal(registry.get(PATIENT)?.id, 'us-core-patient');
  t.equal(registry.get(`${PATIENT}|5.0.1`)?.id, 'us-core-patient');
  t.equal(registry.get(`${ENCOUNTER}|5.0.1`)?.version, '5.0.1');
  t.equal(registry.get('http://example.org/nope'), undefined);
  t.ok(check(patient, `${PATIENT}|5.0.1`), 'the checker tolerates the version suffix too');
});

t.test('registry: defaultsFor() gives the US Core profile per type', async (t) => {
  const of = (resourceType: string, extra: Record<string, unknown> = {}) =>
    registry.defaultsFor({ resourceType, ...extra } as Resource);
  t.same(of('Patient'), [PATIENT]);
  t.same(of('Encounter'), [ENCOUNTER]);
  t.same(of('MedicationRequest'), [MEDICATION_REQUEST]);
  t.same(of('DocumentReference'), [DOCUMENT_REFERENCE]);
  t.same(of('Practitioner'), [PRACTITIONER]);
  t.same(of('Organization'), [ORGANIZATION]);
  t.same(of('Observation'), [], 'no generic US Core Observation profile in 5.0.1');
  t.same(of('Appointment'), []);
  // Observation, Condition and DiagnosticReport: by category and code (us-core-defaults.test.ts)
  const lab = {
    coding: [
      { system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' },
    ],
  };
  t.same(of('Observation', { category: [lab] }), [OBSERVATION_LAB]);
});

t.test('registry: all() includes the telefhir profiles, each with a snapshot', async (t) => {
  const urls = registry.all().map((sd) => sd.url);
  t.ok(urls.includes(APPOINTMENT));
  t.ok(urls.includes(VIRTUAL_ENCOUNTER));
  t.ok(urls.includes(OBSERVATION_LAB));
  for (const sd of registry.all()) t.ok(sd.snapshot?.element.length, `${sd.id} has a snapshot`);
  const root = registry.get(APPOINTMENT)?.snapshot?.element[0];
  t.match(
    root?.constraint?.find((c) => c.key === 'tfa-1'),
    { source: APPOINTMENT },
  );
  t.match(
    root?.constraint?.find((c) => c.key === 'app-3'),
    {
      source: 'http://hl7.org/fhir/StructureDefinition/Appointment',
    },
  );
});

t.test('every required binding is either expanded or listed as not checkable', async (t) => {
  const dir = fromRoot('profiles', 'valuesets');
  const notCheckable = JSON.parse(readFileSync(`${dir}/not-checkable.json`, 'utf8')) as {
    valueSet: string;
  }[];
  const known = new Set(notCheckable.map((n) => n.valueSet));
  const missing = new Set<string>();
  for (const sd of registry.all()) {
    for (const element of sd.snapshot?.element ?? []) {
      const binding = element.binding;
      if (binding?.strength !== 'required' || !binding.valueSet) continue;
      const url = binding.valueSet.split('|')[0] as string;
      if (!registry.valueSets.get(url) && !known.has(url)) missing.add(`${url} (${element.id})`);
    }
  }
  t.same([...missing], []);
});

t.test('a profile whose FHIRPath does not compile fails compileAll (the build)', async (t) => {
  const dir = patientProfileDir(t, 'broken', [
    {
      id: 'Patient',
      path: 'Patient',
      constraint: [{ key: 'brk-1', severity: 'error', human: 'broken', expression: 'name.where(' }],
    },
  ]);
  const local = loadProfiles(dir, { snapshotFile: false });
  t.throws(() => createProfileChecker(local, undefined, { compileAll: true }), 'at build');
  const lazy = createProfileChecker(local);
  t.throws(
    () => lazy({ resourceType: 'Patient' }, 'http://example.org/StructureDefinition/broken'),
    'else when first used',
  );
});
