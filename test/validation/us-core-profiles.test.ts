/**
 * The US Core 5.0.1 profiles of the types Wave 2 step 4 added, and the Observation profiles:
 * each example in test/fixtures/us-core.ts is held to its profile by default (picked by type,
 * category or code) and meets it; each loses one SHALL and is refused, the issue naming the
 * profile; over REST that is a 422 OperationOutcome.
 */
import t from 'tap';
import type { Resource } from 'fhir/r4.js';
import { createValidator } from '../../src/validation/index.js';
import * as f from '../fixtures/us-core.js';
import { fhir, startTestServer } from '../helpers.js';

type Json = Record<string, unknown>;
const { validator, profiles } = createValidator({ defaultProfiles: true });
const errors = (resource: Json) =>
  validator
    .validate(JSON.parse(JSON.stringify(resource)) as Resource)
    .filter((issue) => issue.severity === 'error');

t.test('every example is held to its own profile by default, and meets it', async (t) => {
  for (const [id, make] of Object.entries(f.US_CORE_EXAMPLES)) {
    const resource = make('Patient/p1');
    const defaults = profiles.defaultsFor(resource as unknown as Resource);
    t.ok(defaults.includes(f.usCoreProfileUrl(id)), `${id} is selected`);
    t.same(errors(resource), [], `${id} is valid`);
  }
});

t.test('every profile the examples name is shipped with a snapshot', async (t) => {
  for (const id of Object.keys(f.US_CORE_EXAMPLES)) {
    const sd = profiles.get(f.usCoreProfileUrl(id));
    t.ok(sd?.snapshot?.element.length, id);
    t.equal(sd?.version, '5.0.1', `${id} is US Core 5.0.1`);
  }
});

const P = 'Patient/p1';
const vital = (id: string, extra: Json) => f.vitalSignObservation(id, P, extra);

/** One SHALL broken per profile: [profile, what is wrong, resource, expression reported]. */
const BROKEN: [string, string, Json, string][] = [
  [
    'us-core-allergyintolerance',
    'no code',
    f.allergyIntolerance(P, { code: undefined }),
    'AllergyIntolerance.code',
  ],
  [
    'us-core-careplan',
    'no assess-plan category',
    f.carePlan(P, { category: [{ text: 'x' }] }),
    'CarePlan.category',
  ],
  [
    'us-core-careteam',
    'a participant with no role',
    f.careTeam(P, { participant: [{ member: { reference: 'Practitioner/x' } }] }),
    'CareTeam.participant[0].role',
  ],
  [
    'us-core-condition-encounter-diagnosis',
    'a Group as subject',
    f.conditionEncounterDiagnosis(P, { subject: { reference: 'Group/x' } }),
    'Condition.subject',
  ],
  [
    'us-core-condition-problems-health-concerns',
    'a category of neither kind',
    f.conditionProblem(P, { category: [{ coding: [{ system: 'urn:x', code: 'y' }] }] }),
    'Condition',
  ],
  [
    'us-core-implantable-device',
    'no patient',
    f.implantableDevice(P, { patient: undefined }),
    'Device.patient',
  ],
  [
    'us-core-diagnosticreport-lab',
    'no effective time',
    f.diagnosticReportLab(P, { effectiveDateTime: undefined }),
    'DiagnosticReport.effective',
  ],
  [
    'us-core-diagnosticreport-note',
    'no category',
    f.diagnosticReportNote(P, { category: undefined }),
    'DiagnosticReport.category',
  ],
  [
    'us-core-goal',
    'a Group as subject',
    f.goal(P, { subject: { reference: 'Group/x' } }),
    'Goal.subject',
  ],
  [
    'us-core-immunization',
    'no primarySource',
    f.immunization(P, { primarySource: undefined }),
    'Immunization.primarySource',
  ],
  ['us-core-location', 'no name', f.location({ name: undefined }), 'Location.name'],
  [
    'us-core-procedure',
    'completed but not performed',
    f.procedure(P, { performedDateTime: undefined }),
    'Procedure',
  ],
  [
    'us-core-questionnaireresponse',
    'not authored',
    f.questionnaireResponse(P, { authored: undefined }),
    'QuestionnaireResponse.authored',
  ],
  [
    'us-core-servicerequest',
    'no code',
    f.serviceRequest(P, { code: undefined }),
    'ServiceRequest.code',
  ],
  [
    'us-core-observation-lab',
    'a year for a time',
    f.labObservation(P, { effectiveDateTime: '2024' }),
    'Observation.effectiveDateTime',
  ],
  [
    'us-core-smokingstatus',
    'not issued',
    f.smokingStatus(P, { issued: undefined }),
    'Observation.issued',
  ],
  [
    'us-core-observation-sdoh-assessment',
    'no survey category',
    f.sdohAssessment(P, {
      category: [
        {
          coding: [{ system: 'http://hl7.org/fhir/us/core/CodeSystem/us-core-tags', code: 'sdoh' }],
        },
      ],
    }),
    'Observation.category',
  ],
  [
    'us-core-observation-clinical-test',
    'no value and no reason',
    f.clinicalResult(P, { valueString: undefined }),
    'Observation',
  ],
  [
    'us-core-vital-signs',
    'no effective time',
    vital('us-core-heart-rate', { effectiveDateTime: undefined }),
    'Observation.effective',
  ],
  [
    'us-core-blood-pressure',
    'no components',
    f.bloodPressure(P, { component: undefined }),
    'Observation.component',
  ],
  [
    'us-core-pulse-oximetry',
    'one of its two codes',
    f.pulseOximetry(P, { code: { coding: [{ system: f.LOINC, code: '59408-5' }] } }),
    'Observation.code',
  ],
  [
    'us-core-body-weight',
    'pounds not in UCUM',
    vital('us-core-body-weight', {
      valueQuantity: { value: 150, unit: 'lb', system: f.UCUM, code: 'lb' },
    }),
    'Observation.valueQuantity',
  ],
  [
    'us-core-body-temperature',
    'no unit',
    vital('us-core-body-temperature', {
      valueQuantity: { value: 37, system: f.UCUM, code: 'Cel' },
    }),
    'Observation.valueQuantity',
  ],
  [
    'us-core-bmi',
    'a string value',
    vital('us-core-bmi', { valueString: '24' }),
    'Observation.valueString',
  ],
  [
    'pediatric-bmi-for-age',
    'kg instead of percent',
    vital('pediatric-bmi-for-age', {
      valueQuantity: { value: 20, unit: 'kg', system: f.UCUM, code: 'kg' },
    }),
    'Observation.valueQuantity',
  ],
];

t.test('each profile refuses a resource missing one of its SHALLs, naming itself', async (t) => {
  for (const [id, what, resource, expression] of BROKEN) {
    const found = errors(resource);
    const mine = found.filter((issue) => issue.diagnostics.includes(f.usCoreProfileUrl(id)));
    t.ok(
      mine.some((issue) => issue.expression === expression),
      `${id}, ${what}: ${found.map((i) => `${i.expression} ${i.diagnostics}`).join('; ')}`,
    );
  }
});

t.test('what picks the Observation, Condition and DiagnosticReport profiles', async (t) => {
  const picked = (resource: Json) =>
    profiles
      .defaultsFor(resource as unknown as Resource)
      .map((url) => url.slice(url.lastIndexOf('/') + 1));
  t.same(picked(f.bloodPressure(P)), ['us-core-vital-signs', 'us-core-blood-pressure']);
  t.same(
    picked(
      vital('us-core-heart-rate', { code: { coding: [{ system: f.LOINC, code: '0000-0' }] } }),
    ),
    ['us-core-vital-signs'],
    'a vital sign US Core has no profile for: the general one',
  );
  t.same(
    picked(f.smokingStatus(P, { category: undefined })),
    ['us-core-smokingstatus'],
    'smoking status by its code alone',
  );
  t.same(picked(f.labObservation(P, { category: [{ text: 'lab' }] })), [], 'no category: none');
  t.same(picked(f.conditionEncounterDiagnosis(P)), ['us-core-condition-encounter-diagnosis']);
  t.same(
    picked(f.conditionProblem(P, { category: undefined })),
    ['us-core-condition-problems-health-concerns'],
    'a Condition of no category is held to the problems profile (which then asks for one)',
  );
  t.same(picked(f.diagnosticReportNote(P)), ['us-core-diagnosticreport-note']);
  t.same(picked(f.diagnosticReportLab(P)), ['us-core-diagnosticreport-lab']);
});

t.test('meta.profile selects a profile the defaults would not', async (t) => {
  const exam = f.clinicalResult(P, {
    category: [
      {
        coding: [
          { system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'exam' },
        ],
      },
    ],
  });
  t.same(errors(exam), [], 'an exam Observation has no default profile');
  const claimed = {
    ...exam,
    meta: { profile: [f.usCoreProfileUrl('us-core-observation-clinical-test')] },
  };
  t.ok(
    errors(claimed).some((issue) => issue.expression === 'Observation.category'),
    'claiming clinical-test holds it to that profile',
  );
});

t.test(
  'over REST: valid examples are stored, broken ones are 422 naming the profile',
  async (t) => {
    const { base } = await startTestServer(t, { defaultProfiles: 'us-core' });
    for (const [id, make] of Object.entries(f.US_CORE_EXAMPLES)) {
      const resource = make(P);
      const res = await fhir(base, 'POST', String(resource.resourceType), resource);
      t.equal(res.status, 201, `${id}: ${res.status === 201 ? 'stored' : res.text.slice(0, 300)}`);
    }
    for (const [id, what, resource] of BROKEN) {
      const res = await fhir(base, 'POST', String(resource.resourceType), resource);
      t.equal(res.status, 422, `${id}, ${what}`);
      t.equal(res.body?.resourceType, 'OperationOutcome');
      t.match(res.text, f.usCoreProfileUrl(id), `${id}: the outcome names the profile`);
    }
  },
);
