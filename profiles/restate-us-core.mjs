#!/usr/bin/env node
// Writes telefhir's restatements of the US Core 5.0.1 profiles that no registry package ships
// (see README.md): one differential-only StructureDefinition per profile, in the shape of the
// five restated by hand before (us-core-encounter.json …). Each states what US Core 5.0.1 makes
// SHALL: cardinality, types and reference targets, must-support flags, pattern values and
// slices, required bindings (by their R4 ValueSet where US Core binds one, so
// build-valuesets.mjs can expand it), and constraints. Where US Core binds a ValueSet of its own
// that no package carries (so it can't be expanded here), the rule is restated as a constraint
// whose key starts `tf-` and whose text names the binding it stands for. Descriptive text is left
// out. Run by hand (`node profiles/restate-us-core.mjs`, then `node profiles/build-valuesets.mjs`);
// the server only reads the JSON it writes.
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { stdout } from 'node:process';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const CORE = 'http://hl7.org/fhir/StructureDefinition/';
const US = 'http://hl7.org/fhir/us/core/StructureDefinition/';
const VS = 'http://hl7.org/fhir/ValueSet/';
const LOINC = 'http://loinc.org';
const UCUM = 'http://unitsofmeasure.org';
const OBS_CAT = 'http://terminology.hl7.org/CodeSystem/observation-category';

const ms = { mustSupport: true };
const req = (min = 1) => ({ min, max: '1', mustSupport: true });
const many = (min = 0) => ({ min, max: '*', mustSupport: true });
const ref = (...targets) => ({
  type: [{ code: 'Reference', targetProfile: targets.map((t) => (t.includes('/') ? t : US + t)) }],
});
const types = (...codes) => ({ type: codes.map((code) => ({ code })) });
const required = (valueSet) => ({ binding: { strength: 'required', valueSet: VS + valueSet } });
const extensible = (valueSet) => ({ binding: { strength: 'extensible', valueSet } });
const pattern = (system, code) => ({ patternCodeableConcept: { coding: [{ system, code }] } });

/** An element of the differential; `Type.a:slice.b` gets its path without slice names. */
function el(id, props = {}) {
  const path = id.replace(/:[^.]+/g, '');
  const last = id.split('.').pop();
  const sliceName = last.includes(':') ? last.split(':')[1] : undefined;
  return { id, path, ...(sliceName ? { sliceName } : {}), ...props };
}

function constraint(key, human, expression, url, severity = 'error') {
  return { key, severity, human, expression, source: url };
}

const slicedByPattern = {
  slicing: { discriminator: [{ type: 'pattern', path: '$this' }], ordered: false, rules: 'open' },
};

function profile({ id, name, title, type, base = CORE + type, elements }) {
  const url = US + id;
  return {
    resourceType: 'StructureDefinition',
    id,
    url,
    version: '5.0.1',
    name,
    title,
    status: 'active',
    experimental: false,
    publisher: 'telefhir',
    description: `telefhir's restatement of the US Core 5.0.1 ${title}'s requirements (cardinality, bindings, constraints), authored from the published specification; not the HL7-published file.`,
    jurisdiction: [{ coding: [{ system: 'urn:iso:std:iso:3166', code: 'US' }] }],
    fhirVersion: '4.0.1',
    kind: 'resource',
    abstract: false,
    type,
    baseDefinition: base,
    derivation: 'constraint',
    differential: { element: withRoot(type, elements(url)) },
  };
}

/** The root element first: the one given (carrying the profile's own constraints), or a bare one. */
function withRoot(type, elements) {
  return elements[0]?.id === type ? elements : [el(type), ...elements];
}

const profiles = [];
const add = (definition) => profiles.push(profile(definition));

add({
  id: 'us-core-allergyintolerance',
  name: 'USCoreAllergyIntolerance',
  title: 'US Core AllergyIntolerance Profile',
  type: 'AllergyIntolerance',
  elements: () => [
    el('AllergyIntolerance.clinicalStatus', { ...req(0), ...required('allergyintolerance-clinical') }),
    el('AllergyIntolerance.verificationStatus', { ...req(0), ...required('allergyintolerance-verification') }),
    el('AllergyIntolerance.code', { ...req(), ...extensible(`${US.replace('StructureDefinition', 'ValueSet')}us-core-allergy-substance`) }),
    el('AllergyIntolerance.patient', { ...req(), ...ref('us-core-patient') }),
    el('AllergyIntolerance.reaction', many()),
    el('AllergyIntolerance.reaction.manifestation', many(1)),
  ],
});

add({
  id: 'us-core-careplan',
  name: 'USCoreCarePlanProfile',
  title: 'US Core CarePlan Profile',
  type: 'CarePlan',
  elements: (url) => [
    el('CarePlan.text', req()),
    el('CarePlan.text.status', {
      ...req(),
      constraint: [
        constraint('tf-careplan-1', 'text.status SHALL be generated or additional (US Core binds it, required, to US Core Narrative Status)', "$this = 'generated' or $this = 'additional'", url),
      ],
    }),
    el('CarePlan.status', { ...req(), ...required('request-status') }),
    el('CarePlan.intent', { ...req(), ...required('care-plan-intent') }),
    el('CarePlan.category', { ...many(1), ...slicedByPattern }),
    el('CarePlan.category:AssessPlan', { ...req(), ...pattern('http://hl7.org/fhir/us/core/CodeSystem/careplan-category', 'assess-plan') }),
    el('CarePlan.subject', { ...req(), ...ref('us-core-patient', `${CORE}Group`) }),
  ],
});

add({
  id: 'us-core-careteam',
  name: 'USCoreCareTeam',
  title: 'US Core CareTeam Profile',
  type: 'CareTeam',
  elements: () => [
    el('CareTeam.status', { ...req(0), ...required('care-team-status') }),
    el('CareTeam.subject', { ...req(), ...ref('us-core-patient') }),
    el('CareTeam.participant', many(1)),
    el('CareTeam.participant.role', { ...many(1) }),
    el('CareTeam.participant.member', {
      ...req(),
      ...ref('us-core-patient', 'us-core-practitioner', 'us-core-organization', 'us-core-practitionerrole', 'us-core-relatedperson', `${CORE}CareTeam`),
    }),
  ],
});

const conditionCommon = (category) => [
  el('Condition.clinicalStatus', { ...req(0), ...required('condition-clinical') }),
  el('Condition.verificationStatus', { ...req(0), ...required('condition-ver-status') }),
  el('Condition.category', { ...many(1), ...slicedByPattern }),
  ...category,
  el('Condition.code', { ...req(), ...extensible(`${US.replace('StructureDefinition', 'ValueSet')}us-core-condition-code`) }),
  el('Condition.subject', { ...req(), ...ref('us-core-patient') }),
  el('Condition.onset[x]', { min: 0, max: '1', ...ms }),
  el('Condition.abatement[x]', { min: 0, max: '1', ...ms }),
  el('Condition.recordedDate', req(0)),
];

add({
  id: 'us-core-condition-encounter-diagnosis',
  name: 'USCoreConditionEncounterDiagnosisProfile',
  title: 'US Core Condition Encounter Diagnosis Profile',
  type: 'Condition',
  elements: () => [
    ...conditionCommon([
      el('Condition.category:us-core', { ...req(), ...pattern('http://terminology.hl7.org/CodeSystem/condition-category', 'encounter-diagnosis') }),
    ]),
    el('Condition.encounter', { ...req(0), ...ref('us-core-encounter') }),
  ],
});

add({
  id: 'us-core-condition-problems-health-concerns',
  name: 'USCoreConditionProblemsHealthConcernsProfile',
  title: 'US Core Condition Problems and Health Concerns Profile',
  type: 'Condition',
  elements: (url) => [
    el('Condition', {
      constraint: [
        constraint(
          'tf-condition-1',
          'A category SHALL be problem-list-item or health-concern (US Core binds category:us-core, 1..*, required, to US Core Problem or Health Concern)',
          "category.coding.where((system = 'http://terminology.hl7.org/CodeSystem/condition-category' and code = 'problem-list-item') or (system = 'http://hl7.org/fhir/us/core/CodeSystem/condition-category' and code = 'health-concern')).exists()",
          url,
        ),
      ],
    }),
    // assertedDate (the core extension) is must-support; the category slice is the constraint.
    ...conditionCommon([]).map((element) =>
      element.id === 'Condition.category' ? { ...element, slicing: undefined } : element,
    ),
  ],
});

const diagnosticReport = (id, name, title, category) =>
  add({
    id,
    name,
    title,
    type: 'DiagnosticReport',
    elements: () => [
      el('DiagnosticReport.status', { ...req(), ...required('diagnostic-report-status') }),
      el('DiagnosticReport.category', { ...many(1), ...(category.length ? slicedByPattern : {}) }),
      ...category,
      el('DiagnosticReport.code', req()),
      el('DiagnosticReport.subject', { ...req(), ...ref('us-core-patient') }),
      el('DiagnosticReport.encounter', { ...req(0), ...ref('us-core-encounter') }),
      el('DiagnosticReport.effective[x]', { ...req(), ...types('dateTime', 'Period') }),
      el('DiagnosticReport.issued', req(0)),
      el('DiagnosticReport.performer', many()),
      el('DiagnosticReport.result', many()),
      el('DiagnosticReport.presentedForm', many()),
    ],
  });
diagnosticReport('us-core-diagnosticreport-lab', 'USCoreDiagnosticReportProfileLaboratoryReporting', 'US Core DiagnosticReport Profile for Laboratory Results Reporting', [
  el('DiagnosticReport.category:LaboratorySlice', { ...req(), ...pattern('http://terminology.hl7.org/CodeSystem/v2-0074', 'LAB') }),
]);
diagnosticReport('us-core-diagnosticreport-note', 'USCoreDiagnosticReportProfileNoteExchange', 'US Core DiagnosticReport Profile for Report and Note Exchange', []);

add({
  id: 'us-core-goal',
  name: 'USCoreGoalProfile',
  title: 'US Core Goal Profile',
  type: 'Goal',
  elements: () => [
    el('Goal.lifecycleStatus', { ...req(), ...required('goal-status') }),
    el('Goal.description', req()),
    el('Goal.subject', { ...req(), ...ref('us-core-patient') }),
    el('Goal.start[x]', { min: 0, max: '1', ...ms }),
    el('Goal.target', many()),
    el('Goal.target.due[x]', { min: 0, max: '1', ...ms }),
  ],
});

add({
  id: 'us-core-immunization',
  name: 'USCoreImmunizationProfile',
  title: 'US Core Immunization Profile',
  type: 'Immunization',
  elements: () => [
    el('Immunization.status', { ...req(), ...required('immunization-status') }),
    el('Immunization.statusReason', req(0)),
    el('Immunization.vaccineCode', req()),
    el('Immunization.patient', { ...req(), ...ref('us-core-patient') }),
    el('Immunization.occurrence[x]', { ...req(), ...types('dateTime', 'string') }),
    el('Immunization.primarySource', req()),
  ],
});

add({
  id: 'us-core-location',
  name: 'USCoreLocation',
  title: 'US Core Location Profile',
  type: 'Location',
  elements: () => [
    el('Location.status', req(0)),
    el('Location.name', req()),
    el('Location.telecom', many()),
    el('Location.address', req(0)),
    el('Location.address.line', many()),
    el('Location.address.city', req(0)),
    el('Location.address.state', req(0)),
    el('Location.address.postalCode', req(0)),
    el('Location.managingOrganization', { ...req(0), ...ref('us-core-organization') }),
  ],
});

add({
  id: 'us-core-procedure',
  name: 'USCoreProcedureProfile',
  title: 'US Core Procedure Profile',
  type: 'Procedure',
  elements: (url) => [
    el('Procedure', {
      constraint: [
        constraint('us-core-7', "Performed SHALL be present if the status is 'completed' or 'in-progress'", "(status = 'completed' or status = 'in-progress') implies performed.exists()", url),
      ],
    }),
    el('Procedure.status', { ...req(), ...required('event-status') }),
    el('Procedure.code', req()),
    el('Procedure.subject', { ...req(), ...ref('us-core-patient') }),
    el('Procedure.performed[x]', { ...req(0), ...types('dateTime', 'Period') }),
  ],
});

add({
  id: 'us-core-questionnaireresponse',
  name: 'USCoreQuestionnaireResponseProfile',
  title: 'US Core QuestionnaireResponse Profile',
  type: 'QuestionnaireResponse',
  elements: () => [
    el('QuestionnaireResponse.identifier', req(0)),
    el('QuestionnaireResponse.questionnaire', req()),
    el('QuestionnaireResponse.status', { ...req(), ...required('questionnaire-answers-status') }),
    el('QuestionnaireResponse.subject', { ...req(), ...ref('us-core-patient') }),
    el('QuestionnaireResponse.authored', req()),
    el('QuestionnaireResponse.author', req(0)),
    el('QuestionnaireResponse.item', many()),
    el('QuestionnaireResponse.item.linkId', req()),
    el('QuestionnaireResponse.item.answer', many()),
    el('QuestionnaireResponse.item.item', many()),
  ],
});

add({
  id: 'us-core-servicerequest',
  name: 'USCoreServiceRequestProfile',
  title: 'US Core ServiceRequest Profile',
  type: 'ServiceRequest',
  elements: () => [
    el('ServiceRequest.status', { ...req(), ...required('request-status') }),
    el('ServiceRequest.intent', { ...req(), ...required('request-intent') }),
    el('ServiceRequest.category', many()),
    el('ServiceRequest.code', req()),
    el('ServiceRequest.subject', { ...req(), ...ref('us-core-patient') }),
    el('ServiceRequest.occurrence[x]', { min: 0, max: '1', ...ms }),
    el('ServiceRequest.authoredOn', req(0)),
    el('ServiceRequest.requester', req(0)),
  ],
});

// ---- Observations ----------------------------------------------------------------------------

const effective = (url, min = 1) =>
  el('Observation.effective[x]', {
    ...req(min),
    ...types('dateTime', 'Period'),
    constraint: [constraint('us-core-1', 'Datetime must be at least to day.', 'toString().length() >= 8', url)],
  });
const observationBasics = (url, categories, { effectiveMin = 1 } = {}) => [
  el('Observation.status', { ...req(), ...required('observation-status') }),
  el('Observation.category', { ...many(1), ...slicedByPattern }),
  ...categories,
  el('Observation.code', req()),
  el('Observation.subject', { ...req(), ...ref('us-core-patient') }),
  effective(url, effectiveMin),
];
const us2 = (url) =>
  el('Observation', {
    constraint: [
      constraint('us-core-2', 'If there is no component or hasMember element then either a value[x] or a data absent reason must be present', '(component.empty() and hasMember.empty()) implies (dataAbsentReason.exists() or value.exists())', url),
    ],
  });

add({
  id: 'us-core-vital-signs',
  name: 'USCoreVitalSignsProfile',
  title: 'US Core Vital Signs Profile',
  type: 'Observation',
  elements: (url) =>
    [
      el('Observation', {
        constraint: [
          constraint('vs-2', 'If there is no component or hasMember element then either a value[x] or a data absent reason must be present.', '(component.empty() and hasMember.empty()) implies (dataAbsentReason.exists() or value.exists())', url),
        ],
      }),
      ...observationBasics(url, [
        el('Observation.category:VSCat', { ...req(), ...pattern(OBS_CAT, 'vital-signs') }),
      ]),
      el('Observation.value[x]', {
        ...req(0),
        constraint: [constraint('us-core-3', 'SHALL use UCUM for coded quantity units.', "system.empty() or system = 'http://unitsofmeasure.org'", url)],
      }),
      el('Observation.dataAbsentReason', req(0)),
      el('Observation.component', many()),
      el('Observation.component.code', req()),
      el('Observation.component.value[x]', req(0)),
      el('Observation.component.dataAbsentReason', req(0)),
    ],
});

/**
 * A vital sign fixing its LOINC code and its units. US Core binds valueQuantity.code (required) to
 * a UCUM ValueSet per sign and makes value, unit, system and code 1..1; that is restated as one
 * constraint on the value.
 */
function vitalSign(id, name, title, codes, units) {
  add({
    id,
    name,
    title,
    type: 'Observation',
    base: `${US}us-core-vital-signs`,
    elements: (url) => [
      el('Observation.code', {
        ...req(),
        patternCodeableConcept: { coding: codes.map((code) => ({ system: LOINC, code })) },
      }),
      el('Observation.value[x]', {
        ...req(0),
        ...types('Quantity'),
        constraint: [
          constraint(
            'tf-vs-units',
            `valueQuantity SHALL have a value and a unit, in UCUM ${units.join(' or ')} (US Core binds valueQuantity.code, required)`,
            `value.exists() and unit.exists() and system = '${UCUM}' and (${units.map((u) => `code = '${u}'`).join(' or ')})`,
            url,
          ),
        ],
      }),
    ],
  });
}
vitalSign('us-core-bmi', 'USCoreBMIProfile', 'US Core BMI Profile', ['39156-5'], ['kg/m2']);
vitalSign('us-core-body-height', 'USCoreBodyHeightProfile', 'US Core Body Height Profile', ['8302-2'], ['cm', '[in_i]']);
vitalSign('us-core-body-weight', 'USCoreBodyWeightProfile', 'US Core Body Weight Profile', ['29463-7'], ['kg', 'g', '[lb_av]']);
vitalSign('us-core-body-temperature', 'USCoreBodyTemperatureProfile', 'US Core Body Temperature Profile', ['8310-5'], ['Cel', '[degF]']);
vitalSign('us-core-head-circumference', 'USCoreHeadCircumferenceProfile', 'US Core Head Circumference Profile', ['9843-4'], ['cm', '[in_i]']);
vitalSign('us-core-heart-rate', 'USCoreHeartRateProfile', 'US Core Heart Rate Profile', ['8867-4'], ['/min']);
vitalSign('us-core-respiratory-rate', 'USCoreRespiratoryRateProfile', 'US Core Respiratory Rate Profile', ['9279-1'], ['/min']);
vitalSign('us-core-pulse-oximetry', 'USCorePulseOximetryProfile', 'US Core Pulse Oximetry Profile', ['2708-6', '59408-5'], ['%']);
vitalSign('pediatric-bmi-for-age', 'USCorePediatricBMIforAgeObservationProfile', 'US Core Pediatric BMI for Age Observation Profile', ['59576-9'], ['%']);
vitalSign('pediatric-weight-for-height', 'USCorePediatricWeightForHeightObservationProfile', 'US Core Pediatric Weight for Height Observation Profile', ['77606-2'], ['%']);
vitalSign('head-occipital-frontal-circumference-percentile', 'USCorePediatricHeadOccipitalFrontalCircumferencePercentileProfile', 'US Core Pediatric Head Occipital Frontal Circumference Percentile Profile', ['8289-1'], ['%']);

add({
  id: 'us-core-smokingstatus',
  name: 'USCoreSmokingStatusProfile',
  title: 'US Core Smoking Status Observation Profile',
  type: 'Observation',
  elements: (url) => [
    el('Observation.status', {
      ...req(),
      ...required('observation-status'),
      constraint: [constraint('tf-smoking-1', 'status SHALL be final or entered-in-error (US Core binds it, required, to US Core Status for Smoking Status Observation)', "$this = 'final' or $this = 'entered-in-error'", url)],
    }),
    el('Observation.code', { ...req(), ...pattern(LOINC, '72166-2') }),
    el('Observation.subject', { ...req(), ...ref('us-core-patient') }),
    el('Observation.issued', req()),
    el('Observation.value[x]', { ...req(), ...types('CodeableConcept') }),
  ],
});

add({
  id: 'us-core-observation-sdoh-assessment',
  name: 'USCoreObservationSDOHAssessment',
  title: 'US Core Observation SDOH Assessment Profile',
  type: 'Observation',
  elements: (url) => [
    ...observationBasics(url, [el('Observation.category:survey', { ...req(), ...pattern(OBS_CAT, 'survey') })], { effectiveMin: 0 }),
    el('Observation.performer', many()),
    el('Observation.value[x]', req(0)),
    el('Observation.hasMember', many()),
    el('Observation.derivedFrom', many()),
  ],
});

add({
  id: 'us-core-observation-clinical-test',
  name: 'USCoreObservationClinicalTestResultProfile',
  title: 'US Core Observation Clinical Test Result Profile',
  type: 'Observation',
  elements: (url) =>
    [
      us2(url),
      ...observationBasics(
        url,
        [el('Observation.category:us-core', { ...req(), ...pattern('http://hl7.org/fhir/us/core/CodeSystem/us-core-observation-category', 'clinical-test') })],
        { effectiveMin: 0 },
      ),
      el('Observation.value[x]', req(0)),
      el('Observation.dataAbsentReason', req(0)),
    ],
});

for (const definition of profiles) {
  const text = `${JSON.stringify(definition, (key, value) => (value === undefined ? undefined : value), 2)}\n`;
  writeFileSync(join(here, `${definition.id}.json`), text);
}
stdout.write(`wrote ${profiles.length} profiles\n`);
