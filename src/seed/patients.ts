/**
 * Patients as US Core 5.0.1 describes them (race, ethnicity, birth sex and gender identity,
 * identifiers, names, telecom, addresses with a period, language), some with a RelatedPerson
 * (a parent or partner who may act for them).
 */
import type { Patient, RelatedPerson } from 'fhir/r4.js';
import { CITIES, FAMILY, GIVEN_FEMALE, GIVEN_MALE, STREETS } from './names.js';
import { coding, concept, MRN, ref, Seeding, SNOMED, US_CORE } from './context.js';
import type { Clinician } from './directory.js';

const OMB = 'urn:oid:2.16.840.1.113883.6.238';
const RACES: [string, string][] = [
  ['2106-3', 'White'],
  ['2054-5', 'Black or African American'],
  ['2028-9', 'Asian'],
  ['1002-5', 'American Indian or Alaska Native'],
  ['2076-8', 'Native Hawaiian or Other Pacific Islander'],
];
const ETHNICITIES: [string, string][] = [
  ['2135-2', 'Hispanic or Latino'],
  ['2186-5', 'Not Hispanic or Latino'],
];
const LANGUAGES: [string, string][] = [
  ['en', 'English'],
  ['es', 'Spanish'],
  ['vi', 'Vietnamese'],
  ['zh', 'Chinese'],
];

function ombExtension(url: string, [code, display]: [string, string]) {
  return {
    url: `${US_CORE}${url}`,
    extension: [
      { url: 'ombCategory', valueCoding: coding(OMB, code, display) },
      { url: 'text', valueString: display },
    ],
  };
}

export interface SeededPatient {
  patient: Patient;
  /** Their usual clinician (generalPractitioner), who sees them at every visit. */
  clinician: Clinician;
  /** Age in years at the anchor. */
  age: number;
  related?: RelatedPerson;
}

export function patient(s: Seeding, n: number, clinician: Clinician): SeededPatient {
  const { random } = s;
  const female = random.chance(0.52);
  // Every fourth a child, every other child a two-year-old (old enough for BMI-for-age, young
  // enough for the under-threes' growth measures).
  const age = n % 4 === 1 ? (n % 8 === 1 ? 2 : random.between(3, 17)) : random.between(18, 88);
  const family = random.pick(FAMILY);
  const given = random.pick(female ? GIVEN_FEMALE : GIVEN_MALE);
  const [city, state, postalCode] = random.pick(CITIES);
  const [language, languageName] = random.pick(LANGUAGES);
  const birthDate = s.date(-age * 365 - random.int(365));
  const patient = s.add<Patient>({
    resourceType: 'Patient',
    id: s.id('patient', n),
    meta: { profile: [`${US_CORE}us-core-patient`] },
    extension: [
      ombExtension('us-core-race', random.pick(RACES)),
      ombExtension('us-core-ethnicity', random.pick(ETHNICITIES)),
      { url: `${US_CORE}us-core-birthsex`, valueCode: female ? 'F' : 'M' },
      {
        url: `${US_CORE}us-core-genderIdentity`,
        valueCodeableConcept: female
          ? concept(SNOMED, '446141000124107', 'Identifies as female gender')
          : concept(SNOMED, '446151000124109', 'Identifies as male gender'),
      },
    ],
    identifier: [
      {
        use: 'usual',
        type: concept(
          'http://terminology.hl7.org/CodeSystem/v2-0203',
          'MR',
          'Medical record number',
        ),
        system: MRN,
        value: `${s.prefix}-${String(n).padStart(6, '0')}`,
      },
    ],
    active: true,
    name: [
      { use: 'official', family, given: [given, random.pick(female ? GIVEN_FEMALE : GIVEN_MALE)] },
      ...(n % 5 === 0
        ? [
            {
              use: 'old' as const,
              family: random.pick(FAMILY),
              given: [given],
              suffix: ['Jr'],
              period: { end: s.date(-400) },
            },
          ]
        : []),
    ],
    telecom: [
      {
        system: 'phone',
        value: `555-${random.between(200, 999)}-${random.digits(4)}`,
        use: 'mobile',
      },
      { system: 'email', value: `${given}.${family}.${n}@example.com`.toLowerCase(), use: 'home' },
    ],
    gender: female ? 'female' : 'male',
    birthDate,
    deceasedBoolean: false,
    address: [
      {
        use: 'home',
        line: [`${random.between(1, 9999)} ${random.pick(STREETS)}`],
        city,
        state,
        postalCode,
        country: 'US',
        period: { start: s.date(-random.between(100, 3000)) },
      },
    ],
    communication: [
      { language: concept('urn:ietf:bcp:47', language, languageName), preferred: true },
    ],
    generalPractitioner: [ref(clinician.practitioner)],
    managingOrganization: ref(clinician.clinic.organization),
  });
  const seeded: SeededPatient = { patient, clinician, age };
  if (age < 18 || n % 4 === 0) {
    const parent = age < 18;
    seeded.related = s.add<RelatedPerson>({
      resourceType: 'RelatedPerson',
      id: s.id('related', n),
      meta: { profile: [`${US_CORE}us-core-relatedperson`] },
      active: true,
      patient: ref(patient),
      relationship: [
        parent
          ? concept('http://terminology.hl7.org/CodeSystem/v3-RoleCode', 'PRN', 'parent')
          : concept('http://terminology.hl7.org/CodeSystem/v3-RoleCode', 'SPS', 'spouse'),
      ],
      name: [{ family, given: [random.pick(GIVEN_FEMALE)] }],
      telecom: [{ system: 'phone', value: `555-${random.between(200, 999)}-${random.digits(4)}` }],
      address: patient.address!,
    });
  }
  return seeded;
}
