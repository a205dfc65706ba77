/**
 * What a visit measures and finds: the vital signs (vitals.ts), smoking status, an SDOH
 * screening and clinical tests, lab results with the lab DiagnosticReport that reports them
 * (and its printed form), and a clinical-note DiagnosticReport with its text and the results
 * it discusses.
 */
import type { DiagnosticReport, Observation, Reference } from 'fhir/r4.js';
import { concept, LOINC, quantity, ref, Seeding, SNOMED, US_CORE } from './context.js';
import type { Directory } from './directory.js';
import { category, NOT_PERFORMED, observation, type On } from './observe.js';
import type { SeededPatient } from './patients.js';
import { vitals } from './vitals.js';
import type { Visit } from './visits.js';

const LABS: [string, string, number, number, string][] = [
  ['2339-0', 'Glucose [Mass/volume] in Blood', 70, 180, 'mg/dL'],
  ['4548-4', 'Hemoglobin A1c/Hemoglobin.total in Blood', 4.8, 9.5, '%'],
  ['2093-3', 'Cholesterol [Mass/volume] in Serum or Plasma', 140, 260, 'mg/dL'],
  ['718-7', 'Hemoglobin [Mass/volume] in Blood', 11, 17, 'g/dL'],
];

function labs(on: On, lab: Reference): DiagnosticReport {
  const { s } = on;
  const results = LABS.map(([code, display, low, high, unit], i) => {
    const value = s.random.decimal(low, high);
    return observation(on, `lab${i}`, 'us-core-observation-lab', {
      category: category('laboratory', 'Laboratory'),
      code: concept(LOINC, code, display),
      performer: [lab],
      valueQuantity: quantity(value, unit),
      interpretation: [
        concept(
          'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation',
          value > high * 0.9 ? 'H' : 'N',
          value > high * 0.9 ? 'High' : 'Normal',
        ),
      ],
      referenceRange: [{ low: quantity(low, unit), high: quantity(high * 0.9, unit) }],
    });
  });
  // A test the lab couldn't run: reported, with why there is no value.
  results.push(
    observation(on, 'lab-missing', 'us-core-observation-lab', {
      category: category('laboratory', 'Laboratory'),
      code: concept(LOINC, '2571-8', 'Triglyceride [Mass/volume] in Serum or Plasma'),
      performer: [lab],
      dataAbsentReason: concept(
        'http://terminology.hl7.org/CodeSystem/data-absent-reason',
        'error',
        'Error',
      ),
    }),
  );
  // The lab's printed report, as its clinicians read it.
  const printed = results
    .map((r) => {
      const value = r.valueQuantity
        ? `${r.valueQuantity.value} ${r.valueQuantity.unit}`
        : `not reported (${r.dataAbsentReason?.text})`;
      return `${r.code.text}: ${value}`;
    })
    .join('\n');
  return s.add<DiagnosticReport>({
    resourceType: 'DiagnosticReport',
    id: s.id('report', on.key, 'lab'),
    meta: { profile: [`${US_CORE}us-core-diagnosticreport-lab`] },
    status: 'final',
    category: [concept('http://terminology.hl7.org/CodeSystem/v2-0074', 'LAB', 'Laboratory')],
    code: concept(LOINC, '24323-8', 'Comprehensive metabolic 2000 panel'),
    subject: ref(on.who.patient),
    encounter: ref(on.visit.encounter),
    effectiveDateTime: on.visit.start,
    issued: on.visit.end,
    performer: [lab],
    result: results.map((r) => ref(r)),
    presentedForm: [
      {
        contentType: 'text/plain',
        data: Buffer.from(printed).toString('base64'),
        title: 'Comprehensive metabolic panel',
      },
    ],
  });
}

/** The visit's note, with the results it discusses (those that have a value). */
function note(on: On, discussed: Observation[]): DiagnosticReport {
  const { s, visit } = on;
  const text = `Video visit for ${visit.reason[1].toLowerCase()}. Plan discussed with patient.`;
  return s.add<DiagnosticReport>({
    resourceType: 'DiagnosticReport',
    id: s.id('report', on.key, 'note'),
    meta: { profile: [`${US_CORE}us-core-diagnosticreport-note`] },
    status: 'final',
    category: [
      s.random.pick([
        concept(LOINC, 'LP29684-5', 'Radiology'),
        concept(LOINC, 'LP29708-2', 'Cardiology'),
      ]),
    ],
    code: concept(LOINC, '11506-3', 'Progress note'),
    subject: ref(on.who.patient),
    encounter: ref(visit.encounter),
    effectiveDateTime: visit.start,
    issued: visit.end,
    performer: [ref(on.who.clinician.practitioner)],
    presentedForm: [
      {
        contentType: 'text/plain',
        data: Buffer.from(text).toString('base64'),
        title: 'Progress note',
      },
    ],
    ...(discussed.length ? { result: discussed.map((r) => ref(r)) } : {}),
  });
}

function social(on: On): Observation[] {
  const { s } = on;
  const smoking: [string, string] = s.random.pick([
    ['266919005', 'Never smoked tobacco'],
    ['8517006', 'Ex-smoker'],
    ['77176002', 'Smoker'],
  ]);
  const food = observation(on, 'food', 'us-core-observation-sdoh-assessment', {
    category: [
      ...category('survey', 'Survey'),
      concept('http://hl7.org/fhir/us/core/CodeSystem/us-core-tags', 'sdoh', 'SDOH'),
    ],
    code: concept(
      LOINC,
      '88122-7',
      'Within the past 12 months we worried whether our food would run out',
    ),
    valueCodeableConcept: concept(LOINC, 'LA28397-0', 'Often true'),
  });
  return [
    observation(on, 'smoking', 'us-core-smokingstatus', {
      category: category('social-history', 'Social History'),
      code: concept(LOINC, '72166-2', 'Tobacco smoking status'),
      valueCodeableConcept: concept(SNOMED, smoking[0], smoking[1]),
    }),
    food,
    observation(on, 'hunger', 'us-core-observation-sdoh-assessment', {
      category: [
        ...category('survey', 'Survey'),
        concept('http://hl7.org/fhir/us/core/CodeSystem/us-core-tags', 'sdoh', 'SDOH'),
      ],
      code: concept(LOINC, '88121-9', 'Hunger Vital Sign [HVS]'),
      valueCodeableConcept: concept(LOINC, 'LA19952-3', 'At risk'),
      hasMember: [ref(food)],
      derivedFrom: [ref(food)],
    }),
    observation(on, 'orientation', 'us-core-observation-sexual-orientation', {
      category: category('social-history', 'Social History'),
      code: concept(LOINC, '76690-7', 'Sexual orientation'),
      valueCodeableConcept: concept(SNOMED, '20430005', 'Heterosexual'),
    }),
    observation(on, 'ecg', 'us-core-observation-clinical-test', {
      category: [
        concept(
          'http://hl7.org/fhir/us/core/CodeSystem/us-core-observation-category',
          'clinical-test',
          'Clinical Test',
        ),
      ],
      code: concept(LOINC, '8601-7', 'EKG impression'),
      valueString: 'Normal sinus rhythm',
    }),
    // A test a video visit can't do: ordered, recorded as not performed.
    observation(on, 'walk', 'us-core-observation-clinical-test', {
      category: [
        concept(
          'http://hl7.org/fhir/us/core/CodeSystem/us-core-observation-category',
          'clinical-test',
          'Clinical Test',
        ),
      ],
      code: concept(LOINC, '64098-7', 'Six minute walk test'),
      dataAbsentReason: NOT_PERFORMED,
    }),
    observation(on, 'imaging', 'us-core-observation-imaging', {
      category: category('imaging', 'Imaging'),
      code: concept(LOINC, '24627-2', 'Chest CT'),
      valueString: 'No acute cardiopulmonary process',
    }),
  ];
}

/** Everything measured at one past visit; the adult screenings only at the first. */
export function findings(
  s: Seeding,
  who: SeededPatient,
  visit: Visit,
  key: string,
  first: boolean,
  dir: Directory,
) {
  const on: On = { s, who, visit, key };
  const measured = vitals(on);
  const report = labs(on, ref(dir.lab));
  const screened = first && who.age >= 13 ? social(on) : [];
  const discussed = [...measured, ...screened].filter((r) =>
    Object.keys(r).some((k) => k.startsWith('value')),
  );
  note(on, discussed);
  return { vitals: measured, report };
}
