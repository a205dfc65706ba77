/**
 * Which US Core 5.0.1 profiles a resource must meet when it claims none (or others): the
 * default profiles of VALIDATION_DEFAULT_PROFILES=us-core. Most types have one profile. Where US
 * Core has several for one type, it tells them apart by what the resource says, and so do we:
 * Condition and DiagnosticReport by category, Observation by category and code (a vital sign
 * meets US Core Vital Signs and, for the signs US Core profiles, its own profile; smoking status
 * is known by its LOINC code). An Observation none of them describes (an imaging result, a
 * survey) has no default: US Core 5.0.1 has no generic Observation profile.
 */
import type { Resource } from 'fhir/r4.js';

const US_CORE = 'http://hl7.org/fhir/us/core/StructureDefinition/';
const LOINC = 'http://loinc.org';
const OBSERVATION_CATEGORY = 'http://terminology.hl7.org/CodeSystem/observation-category';
const US_CORE_OBSERVATION_CATEGORY =
  'http://hl7.org/fhir/us/core/CodeSystem/us-core-observation-category';
const US_CORE_TAGS = 'http://hl7.org/fhir/us/core/CodeSystem/us-core-tags';
const CONDITION_CATEGORY = 'http://terminology.hl7.org/CodeSystem/condition-category';
const V2_0074 = 'http://terminology.hl7.org/CodeSystem/v2-0074';

/** Types with exactly one US Core profile. */
const ONE_PROFILE: Readonly<Record<string, string>> = {
  Patient: 'us-core-patient',
  Encounter: 'us-core-encounter',
  MedicationRequest: 'us-core-medicationrequest',
  DocumentReference: 'us-core-documentreference',
  Practitioner: 'us-core-practitioner',
  Organization: 'us-core-organization',
  AllergyIntolerance: 'us-core-allergyintolerance',
  CarePlan: 'us-core-careplan',
  CareTeam: 'us-core-careteam',
  Device: 'us-core-implantable-device',
  Goal: 'us-core-goal',
  Immunization: 'us-core-immunization',
  Location: 'us-core-location',
  Procedure: 'us-core-procedure',
  QuestionnaireResponse: 'us-core-questionnaireresponse',
  ServiceRequest: 'us-core-servicerequest',
};

/** The vital signs with a profile of their own, by the LOINC code each fixes. */
const VITAL_SIGN_PROFILES: Readonly<Record<string, string>> = {
  '85354-9': 'us-core-blood-pressure',
  '39156-5': 'us-core-bmi',
  '8302-2': 'us-core-body-height',
  '29463-7': 'us-core-body-weight',
  '8310-5': 'us-core-body-temperature',
  '9843-4': 'us-core-head-circumference',
  '8867-4': 'us-core-heart-rate',
  '9279-1': 'us-core-respiratory-rate',
  '59408-5': 'us-core-pulse-oximetry',
  '2708-6': 'us-core-pulse-oximetry',
  '59576-9': 'pediatric-bmi-for-age',
  '77606-2': 'pediatric-weight-for-height',
  '8289-1': 'head-occipital-frontal-circumference-percentile',
};

const SMOKING_STATUS = '72166-2';

interface Coding {
  system?: unknown;
  code?: unknown;
}

/** Every coding of a CodeableConcept or a list of them, tolerating any shape (not yet valid). */
function codings(value: unknown): Coding[] {
  const concepts = Array.isArray(value) ? value : [value];
  return concepts.flatMap((concept) => {
    const list = (concept as { coding?: unknown } | undefined)?.coding;
    return Array.isArray(list) ? (list.filter((c) => c && typeof c === 'object') as Coding[]) : [];
  });
}

const has = (list: Coding[], system: string, code?: string) =>
  list.some((c) => c.system === system && (code === undefined || c.code === code));

function observationProfiles(resource: Record<string, unknown>): string[] {
  const category = codings(resource.category);
  const code = codings(resource.code);
  const loinc = code.filter((c) => c.system === LOINC).map((c) => String(c.code));
  if (loinc.includes(SMOKING_STATUS)) return ['us-core-smokingstatus'];
  const found: string[] = [];
  if (has(category, OBSERVATION_CATEGORY, 'vital-signs')) {
    found.push('us-core-vital-signs');
    const specific = loinc.map((c) => VITAL_SIGN_PROFILES[c]).find((p) => p !== undefined);
    if (specific) found.push(specific);
  }
  if (has(category, OBSERVATION_CATEGORY, 'laboratory')) found.push('us-core-observation-lab');
  if (has(category, US_CORE_OBSERVATION_CATEGORY, 'clinical-test')) {
    found.push('us-core-observation-clinical-test');
  }
  if (has(category, US_CORE_TAGS)) found.push('us-core-observation-sdoh-assessment');
  return found;
}

/** The canonical URLs of the US Core profiles `resource` is held to by default. */
export function usCoreDefaults(resource: Resource): string[] {
  const fields = resource as unknown as Record<string, unknown>;
  const one = ONE_PROFILE[resource.resourceType];
  let ids: string[];
  if (one) ids = [one];
  else if (resource.resourceType === 'Observation') ids = observationProfiles(fields);
  else if (resource.resourceType === 'Condition') {
    // Anything not an encounter diagnosis is held to the problems profile, which then names
    // the category it lacks.
    const category = codings(fields.category);
    ids = has(category, CONDITION_CATEGORY, 'encounter-diagnosis')
      ? ['us-core-condition-encounter-diagnosis']
      : ['us-core-condition-problems-health-concerns'];
  } else if (resource.resourceType === 'DiagnosticReport') {
    ids = has(codings(fields.category), V2_0074, 'LAB')
      ? ['us-core-diagnosticreport-lab']
      : ['us-core-diagnosticreport-note'];
  } else ids = [];
  return ids.map((id) => `${US_CORE}${id}`);
}
