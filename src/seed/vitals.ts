/**
 * The US Core vital signs a visit records, one Observation per sign, each claiming its own
 * profile (blood pressure, heart and respiratory rate, temperature, weight, height, BMI, pulse
 * oximetry; for children the growth percentiles, and head circumference under three), each
 * with a component saying how it was taken or what it was worked out from. At a visit by phone
 * nothing could be observed or read off a device on camera: every sign is still recorded, with
 * data-absent-reason `not-performed` and its components likewise (US Core's must-support
 * `dataAbsentReason` and `component.dataAbsentReason`).
 */
import type { Observation } from 'fhir/r4.js';
import { concept, LOINC, quantity, SNOMED, type Json } from './context.js';
import { category, NOT_PERFORMED, observation, type On } from './observe.js';

interface Part {
  code: [string, string];
  /** `value[x]` (or, for a part never measured, `dataAbsentReason`). */
  value: Json;
}

interface Sign {
  kind: string;
  profile: string;
  code: Json;
  /** `value[x]`, when the sign was measured. */
  value: Json;
  parts: Part[];
}

const loinc = (code: string, display: string) => concept(LOINC, code, display);

const SITTING: Part = {
  code: ['8361-8', 'Body position with respect to gravity'],
  value: { valueCodeableConcept: concept(SNOMED, '33586001', 'Sitting position') },
};

const clothing = (text: string): Part => ({
  code: ['8352-7', 'Clothing worn during measure'],
  value: { valueCodeableConcept: { text } },
});

const measured = (code: [string, string], value: Json): Part => ({
  code,
  value: { valueQuantity: value },
});

function record(on: On, sign: Sign): Observation {
  const absent = on.visit.byPhone;
  const component = sign.parts.map((part) => ({
    code: loinc(...part.code),
    ...(absent ? { dataAbsentReason: NOT_PERFORMED } : part.value),
  }));
  return observation(on, sign.kind, sign.profile, {
    category: category('vital-signs', 'Vital Signs'),
    code: sign.code,
    ...(absent ? { dataAbsentReason: NOT_PERFORMED } : sign.value),
    ...(component.length ? { component } : {}),
  });
}

const single = (
  kind: string,
  profile: string,
  code: [string, string],
  value: Json,
  parts: Part[],
): Sign => ({ kind, profile, code: loinc(...code), value: { valueQuantity: value }, parts });

function adultSigns(on: On, weight: number, height: number): Sign[] {
  const { random } = on.s;
  const systolic = random.between(100, 160);
  const diastolic = random.between(60, 100);
  const bmi = Math.round((weight / (height / 100) ** 2) * 10) / 10;
  return [
    {
      kind: 'bp',
      profile: 'us-core-blood-pressure',
      code: loinc('85354-9', 'Blood pressure panel'),
      // The reading as the patient read it out from their home cuff.
      value: { valueString: `${systolic}/${diastolic} mmHg` },
      parts: [
        measured(['8480-6', 'Systolic blood pressure'], quantity(systolic, 'mm[Hg]')),
        measured(['8462-4', 'Diastolic blood pressure'], quantity(diastolic, 'mm[Hg]')),
      ],
    },
    single(
      'hr',
      'us-core-heart-rate',
      ['8867-4', 'Heart rate'],
      quantity(random.between(55, 110), '/min'),
      [SITTING],
    ),
    single(
      'rr',
      'us-core-respiratory-rate',
      ['9279-1', 'Respiratory rate'],
      quantity(random.between(12, 22), '/min'),
      [SITTING],
    ),
    single(
      'temp',
      'us-core-body-temperature',
      ['8310-5', 'Body temperature'],
      quantity(random.decimal(36.1, 38.4), 'Cel'),
      [
        {
          code: ['8327-9', 'Body temperature measurement site'],
          value: { valueCodeableConcept: concept(SNOMED, '123851003', 'Mouth region structure') },
        },
      ],
    ),
    single('weight', 'us-core-body-weight', ['29463-7', 'Body weight'], quantity(weight, 'kg'), [
      clothing('Light clothing, no shoes'),
    ]),
    single('height', 'us-core-body-height', ['8302-2', 'Body height'], quantity(height, 'cm'), [
      clothing('No shoes'),
    ]),
    single(
      'bmi',
      'us-core-bmi',
      ['39156-5', 'Body mass index (BMI) [Ratio]'],
      quantity(bmi, 'kg/m2'),
      [
        measured(['29463-7', 'Body weight'], quantity(weight, 'kg')),
        measured(['8302-2', 'Body height'], quantity(height, 'cm')),
      ],
    ),
    {
      kind: 'spo2',
      profile: 'us-core-pulse-oximetry',
      code: {
        coding: [
          { system: LOINC, code: '59408-5', display: 'Oxygen saturation by Pulse oximetry' },
          { system: LOINC, code: '2708-6', display: 'Oxygen saturation in Arterial blood' },
        ],
      },
      value: { valueQuantity: quantity(random.between(93, 100), '%') },
      parts: [
        measured(['3151-8', 'Inhaled oxygen flow rate'], quantity(0, 'L/min')),
        {
          code: ['3150-0', 'Inhaled oxygen concentration'],
          value: { dataAbsentReason: NOT_PERFORMED },
        },
      ],
    },
  ];
}

/** Growth: BMI-for-age from two years old; weight-for-length and head circumference under three. */
function childSigns(on: On, weight: number, height: number): Sign[] {
  const { random } = on.s;
  const age = on.who.age;
  const bmi = Math.round((weight / (height / 100) ** 2) * 10) / 10;
  const percentile = () => quantity(random.between(5, 95), '%');
  const signs: Sign[] = [];
  if (age >= 2) {
    signs.push(
      single(
        'pbmi',
        'pediatric-bmi-for-age',
        ['59576-9', 'BMI percentile per age and sex'],
        percentile(),
        [measured(['39156-5', 'Body mass index (BMI) [Ratio]'], quantity(bmi, 'kg/m2'))],
      ),
    );
  }
  if (age < 3) {
    const head = random.decimal(44, 51);
    const headPercentile = percentile();
    signs.push(
      single(
        'pwh',
        'pediatric-weight-for-height',
        ['77606-2', 'Weight-for-length percentile'],
        percentile(),
        [
          measured(['29463-7', 'Body weight'], quantity(weight, 'kg')),
          measured(['8306-3', 'Body height --lying'], quantity(height, 'cm')),
        ],
      ),
      single(
        'head',
        'us-core-head-circumference',
        ['9843-4', 'Head Occipital-frontal circumference'],
        quantity(head, 'cm'),
        [measured(['8289-1', 'Head circumference percentile'], headPercentile)],
      ),
      single(
        'headpct',
        'head-occipital-frontal-circumference-percentile',
        ['8289-1', 'Head circumference percentile'],
        headPercentile,
        [measured(['9843-4', 'Head Occipital-frontal circumference'], quantity(head, 'cm'))],
      ),
    );
  }
  return signs;
}

/** The vital signs of one visit, in write order. */
export function vitals(on: On): Observation[] {
  const { random } = on.s;
  const { age } = on.who;
  const [heights, weights]: [[number, number], [number, number]] =
    age < 3
      ? [
          [80, 97],
          [10, 15],
        ]
      : age < 18
        ? [
            [95, 175],
            [14, 70],
          ]
        : [
            [150, 195],
            [48, 120],
          ];
  const height = random.decimal(...heights);
  const weight = random.decimal(...weights);
  const signs = [
    ...adultSigns(on, weight, height),
    ...(age < 18 ? childSigns(on, weight, height) : []),
  ];
  return signs.map((sign) => record(on, sign));
}
