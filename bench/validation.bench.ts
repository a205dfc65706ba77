/**
 * Validation benchmark: µs per validation of a US-Core-like Patient and MedicationRequest,
 * through the structure layer alone (R4 JSON schema) and structure + invariants. In-process,
 * no HTTP: it measures the validator, which runs on every create and update.
 *
 *   npm run bench:validation [-- --iterations 20000 --warmup 2000]
 *
 * Targets: ≤ 20 µs structure, ≤ 200 µs all layers (per resource, median of the batches).
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import type { MedicationRequest, Patient, Resource } from 'fhir/r4.js';
import { createInvariantChecker } from '../src/validation/invariants.js';
import { createValidator } from '../src/validation/index.js';
import { createStructureValidator } from '../src/validation/structure.js';
import { commit, machine, replaceSection } from './results.js';

const TARGET_STRUCTURE_US = 20;
const TARGET_ALL_US = 200;

const { values: args } = parseArgs({
  options: {
    iterations: { type: 'string', default: '10000' },
    warmup: { type: 'string', default: '2000' },
    batches: { type: 'string', default: '10' },
    'no-write': { type: 'boolean', default: false },
  },
});
const iterations = Number(args.iterations);
const warmup = Number(args.warmup);
const batches = Number(args.batches);

const patient: Patient = {
  resourceType: 'Patient',
  id: 'example',
  meta: {
    versionId: '1',
    lastUpdated: '2024-05-01T10:00:00Z',
    profile: ['http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient'],
  },
  text: {
    status: 'generated',
    div: '<div xmlns="http://www.w3.org/1999/xhtml">Amy V. Shaw, female, born 1987-02-20</div>',
  },
  extension: [
    {
      url: 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-race',
      extension: [
        {
          url: 'ombCategory',
          valueCoding: {
            system: 'urn:oid:2.16.840.1.113883.6.238',
            code: '2106-3',
            display: 'White',
          },
        },
        { url: 'text', valueString: 'White' },
      ],
    },
    {
      url: 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity',
      extension: [
        {
          url: 'ombCategory',
          valueCoding: {
            system: 'urn:oid:2.16.840.1.113883.6.238',
            code: '2186-5',
            display: 'Not Hispanic or Latino',
          },
        },
        { url: 'text', valueString: 'Not Hispanic or Latino' },
      ],
    },
    { url: 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex', valueCode: 'F' },
  ],
  identifier: [
    {
      use: 'usual',
      type: {
        coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR' }],
        text: 'Medical Record Number',
      },
      system: 'http://hospital.smarthealthit.org',
      value: '1032702',
    },
  ],
  active: true,
  name: [
    { use: 'official', family: 'Shaw', given: ['Amy', 'V.'], period: { start: '1987-02-20' } },
  ],
  telecom: [
    { system: 'phone', value: '555-555-5555', use: 'home' },
    { system: 'email', value: 'amy.shaw@example.com' },
  ],
  gender: 'female',
  birthDate: '1987-02-20',
  address: [
    {
      use: 'home',
      line: ['49 Meadow St'],
      city: 'Mounds',
      state: 'OK',
      postalCode: '74047',
      country: 'US',
      period: { start: '2016-12-06', end: '2030-07-31' },
    },
  ],
  communication: [
    {
      language: { coding: [{ system: 'urn:ietf:bcp:47', code: 'en-US' }], text: 'English' },
      preferred: true,
    },
  ],
  generalPractitioner: [{ reference: 'Practitioner/123', display: 'Dr. Ronald Bone' }],
};

const medicationRequest: MedicationRequest = {
  resourceType: 'MedicationRequest',
  id: 'rx-1',
  meta: {
    profile: ['http://hl7.org/fhir/us/core/StructureDefinition/us-core-medicationrequest'],
  },
  text: {
    status: 'generated',
    div: '<div xmlns="http://www.w3.org/1999/xhtml">Lisinopril 10 mg daily</div>',
  },
  identifier: [{ system: 'urn:example:rx', value: '20240501-0001' }],
  status: 'active',
  intent: 'order',
  category: [
    {
      coding: [
        {
          system: 'http://terminology.hl7.org/CodeSystem/medicationrequest-category',
          code: 'community',
        },
      ],
    },
  ],
  medicationCodeableConcept: {
    coding: [
      {
        system: 'http://www.nlm.nih.gov/research/umls/rxnorm',
        code: '314076',
        display: 'lisinopril 10 MG Oral Tablet',
      },
    ],
    text: 'Lisinopril 10 mg tablet',
  },
  subject: { reference: 'Patient/example', display: 'Amy V. Shaw' },
  encounter: { reference: 'Encounter/visit-1' },
  authoredOn: '2024-05-01T10:15:00Z',
  requester: { reference: 'Practitioner/123', display: 'Dr. Ronald Bone' },
  reasonCode: [
    { coding: [{ system: 'http://snomed.info/sct', code: '38341003', display: 'Hypertension' }] },
  ],
  dosageInstruction: [
    {
      sequence: 1,
      text: 'Take one tablet by mouth once daily',
      timing: {
        repeat: { frequency: 1, period: 1, periodUnit: 'd', boundsPeriod: { start: '2024-05-01' } },
      },
      route: { coding: [{ system: 'http://snomed.info/sct', code: '26643006', display: 'Oral' }] },
      doseAndRate: [
        {
          doseQuantity: {
            value: 1,
            unit: 'tablet',
            system: 'http://terminology.hl7.org/CodeSystem/v3-orderableDrugForm',
            code: 'TAB',
          },
        },
      ],
    },
  ],
  dispenseRequest: {
    validityPeriod: { start: '2024-05-01', end: '2025-05-01' },
    numberOfRepeatsAllowed: 3,
    quantity: { value: 30, unit: 'tablet' },
    expectedSupplyDuration: {
      value: 30,
      unit: 'days',
      system: 'http://unitsofmeasure.org',
      code: 'd',
    },
  },
  substitution: { allowedBoolean: true },
};

type Check = (resource: Resource) => unknown[];

/** µs per call: median and best of `batches` batches of `iterations / batches` calls. */
function measure(check: Check, resource: Resource): { median: number; best: number } {
  for (let i = 0; i < warmup; i++) check(resource);
  const perBatch = Math.max(1, Math.floor(iterations / batches));
  const samples: number[] = [];
  for (let b = 0; b < batches; b++) {
    const start = performance.now();
    for (let i = 0; i < perBatch; i++) check(resource);
    samples.push(((performance.now() - start) * 1000) / perBatch);
  }
  samples.sort((a, b) => a - b);
  return { median: samples[Math.floor(samples.length / 2)]!, best: samples[0]! };
}

let started = performance.now();
const structure = createStructureValidator();
const createStructureMs = performance.now() - started;
started = performance.now();
const invariants = createInvariantChecker();
const createInvariantsMs = performance.now() - started;

// First use compiles: the schema's datatypes and each type's validator, each type's plan.
started = performance.now();
for (const resource of [patient, medicationRequest]) {
  const issues = [...structure(resource), ...invariants(resource)];
  const errors = issues.filter((issue) => (issue as { severity: string }).severity === 'error');
  if (errors.length > 0)
    throw new Error(`benchmark resource is invalid: ${JSON.stringify(errors)}`);
}
const firstUseMs = performance.now() - started;

const all: Check = (resource) => [...structure(resource), ...invariants(resource)];
// What a write really runs: every layer, with the US Core profiles applied by default.
const { validator } = createValidator({ defaultProfiles: true });
const everything: Check = (resource) => validator.validate(resource as Resource);
for (const resource of [patient, medicationRequest]) {
  const errors = everything(resource).filter(
    (i) => (i as { severity: string }).severity === 'error',
  );
  if (errors.length)
    throw new Error(`benchmark resource is not US Core: ${JSON.stringify(errors)}`);
}
const rows = [
  {
    resource: 'Patient',
    layers: 'structure',
    ...measure(structure, patient),
    target: TARGET_STRUCTURE_US,
  },
  {
    resource: 'Patient',
    layers: 'structure + invariants',
    ...measure(all, patient),
    target: TARGET_ALL_US,
  },
  {
    resource: 'Patient',
    layers: 'all: structure + US Core profile + invariants',
    ...measure(everything, patient),
    target: TARGET_ALL_US,
  },
  {
    resource: 'MedicationRequest',
    layers: 'structure',
    ...measure(structure, medicationRequest),
    target: TARGET_STRUCTURE_US,
  },
  {
    resource: 'MedicationRequest',
    layers: 'structure + invariants',
    ...measure(all, medicationRequest),
    target: TARGET_ALL_US,
  },
  {
    resource: 'MedicationRequest',
    layers: 'all: structure + US Core profile + invariants',
    ...measure(everything, medicationRequest),
    target: TARGET_ALL_US,
  },
];

console.log(
  `node ${process.version}, ${iterations} iterations after ${warmup} warm-up, ${batches} batches`,
);
console.log(
  `start-up: structure ${createStructureMs.toFixed(0)} ms, invariants ${createInvariantsMs.toFixed(0)} ms; first use (compiling) ${firstUseMs.toFixed(0)} ms`,
);
console.table(
  rows.map((row) => ({
    resource: row.resource,
    layers: row.layers,
    'median µs': Number(row.median.toFixed(1)),
    'best µs': Number(row.best.toFixed(1)),
    'target µs': row.target,
    verdict: row.median <= row.target ? 'ok' : 'OVER',
  })),
);

const table = [
  '| resource | layers | median µs | best µs | target µs |',
  '| --- | --- | --: | --: | --: |',
  ...rows.map(
    (row) =>
      `| ${row.resource} | ${row.layers} | ${row.median.toFixed(1)} | ${row.best.toFixed(1)} | ${row.target} |`,
  ),
];
if (!args['no-write']) {
  await replaceSection(
    new URL('./RESULTS.md', import.meta.url).pathname.replace('/dist/bench/bench/', '/bench/'),
    '## Validation (issue 5)',
    [
      '## Validation (issue 5)',
      '',
      `- Date: ${new Date().toISOString()}; commit ${commit()}; ${machine()}`,
      `- ${iterations} iterations after ${warmup} warm-up, ${batches} batches; median and best batch`,
      `- Start-up: structure ${createStructureMs.toFixed(0)} ms, invariants ${createInvariantsMs.toFixed(0)} ms; first use (compiling) ${firstUseMs.toFixed(0)} ms`,
      '',
      ...table,
    ].join('\n'),
  );
}
