/**
 * What a visit measures and finds: the US Core vital signs (each sub-profile: blood pressure,
 * heart and respiratory rate, temperature, weight, height, BMI, pulse oximetry, and the
 * pediatric ones for children), smoking status, an SDOH screening, lab results with the lab
 * DiagnosticReport that reports them, and a clinical-note DiagnosticReport with its text.
 */
import type { DiagnosticReport, Observation, Reference } from 'fhir/r4.js';
import {
  concept,
  LOINC,
  OBSERVATION_CATEGORY,
  quantity,
  ref,
  Seeding,
  SNOMED,
  US_CORE,
  type Json,
} from './context.js';
import type { Directory } from './directory.js';
import type { SeededPatient } from './patients.js';
import type { Visit } from './visits.js';

const category = (code: string, display: string) => [concept(OBSERVATION_CATEGORY, code, display)];

interface On {
  s: Seeding;
  who: SeededPatient;
  visit: Visit;
  key: string;
}

function observation(on: On, kind: string, profile: string, body: Json): Observation {
  const { s, who, visit } = on;
  return s.add<Observation>({
    resourceType: 'Observation',
    id: s.id('obs', on.key, kind),
    meta: { profile: [`${US_CORE}${profile}`] },
    status: 'final',
    subject: ref(who.patient),
    encounter: ref(visit.encounter),
    effectiveDateTime: visit.start,
    issued: visit.end,
    performer: [ref(who.clinician.practitioner)],
    ...body,
  } as Observation);
}

function vital(on: On, kind: string, profile: string, code: [string, string], value: Json) {
  return observation(on, kind, profile, {
    category: category('vital-signs', 'Vital Signs'),
    code: concept(LOINC, code[0], code[1]),
    ...value,
  });
}

function vitals(on: On): Observation[] {
  const { random } = on.s;
  const child = on.who.age < 18;
  const height = child ? random.decimal(75, 165) : random.decimal(150, 195);
  const weight = child ? random.decimal(10, 60) : random.decimal(48, 120);
  const made = [
    observation(on, 'bp', 'us-core-blood-pressure', {
      category: category('vital-signs', 'Vital Signs'),
      code: concept(LOINC, '85354-9', 'Blood pressure panel'),
      component: [
        {
          code: concept(LOINC, '8480-6', 'Systolic blood pressure'),
          valueQuantity: quantity(random.between(100, 160), 'mm[Hg]'),
        },
        {
          code: concept(LOINC, '8462-4', 'Diastolic blood pressure'),
          valueQuantity: quantity(random.between(60, 100), 'mm[Hg]'),
        },
      ],
    }),
    vital(on, 'hr', 'us-core-heart-rate', ['8867-4', 'Heart rate'], {
      valueQuantity: quantity(random.between(55, 110), '/min'),
    }),
    vital(on, 'rr', 'us-core-respiratory-rate', ['9279-1', 'Respiratory rate'], {
      valueQuantity: quantity(random.between(12, 22), '/min'),
    }),
    vital(on, 'temp', 'us-core-body-temperature', ['8310-5', 'Body temperature'], {
      valueQuantity: quantity(random.decimal(36.1, 38.4), 'Cel'),
    }),
    vital(on, 'weight', 'us-core-body-weight', ['29463-7', 'Body weight'], {
      valueQuantity: quantity(weight, 'kg'),
    }),
    vital(on, 'height', 'us-core-body-height', ['8302-2', 'Body height'], {
      valueQuantity: quantity(height, 'cm'),
    }),
    vital(on, 'bmi', 'us-core-bmi', ['39156-5', 'Body mass index (BMI) [Ratio]'], {
      valueQuantity: quantity(Math.round((weight / (height / 100) ** 2) * 10) / 10, 'kg/m2'),
    }),
    observation(on, 'spo2', 'us-core-pulse-oximetry', {
      category: category('vital-signs', 'Vital Signs'),
      code: {
        coding: [
          { system: LOINC, code: '59408-5', display: 'Oxygen saturation by Pulse oximetry' },
          { system: LOINC, code: '2708-6', display: 'Oxygen saturation in Arterial blood' },
        ],
      },
      valueQuantity: quantity(random.between(93, 100), '%'),
      component: [
        {
          code: concept(LOINC, '3151-8', 'Inhaled oxygen flow rate'),
          valueQuantity: quantity(0, 'L/min'),
        },
        {
          code: concept(LOINC, '3150-0', 'Inhaled oxygen concentration'),
          dataAbsentReason: concept(
            'http://terminology.hl7.org/CodeSystem/data-absent-reason',
            'not-performed',
            'Not Performed',
          ),
        },
      ],
    }),
  ];
  if (child) {
    made.push(
      vital(on, 'pbmi', 'pediatric-bmi-for-age', ['59576-9', 'BMI percentile per age and sex'], {
        valueQuantity: quantity(random.between(5, 95), '%'),
      }),
      vital(on, 'pwh', 'pediatric-weight-for-height', ['77606-2', 'Weight-for-length percentile'], {
        valueQuantity: quantity(random.between(5, 95), '%'),
      }),
      vital(
        on,
        'head',
        'head-occipital-frontal-circumference-percentile',
        ['8289-1', 'Head circumference percentile'],
        {
          valueQuantity: quantity(random.between(5, 95), '%'),
        },
      ),
    );
  }
  return made;
}

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
  });
}

function note(on: On): DiagnosticReport {
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
  note(on);
  if (first && who.age >= 13) social(on);
  return { vitals: measured, report };
}
