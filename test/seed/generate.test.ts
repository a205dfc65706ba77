/**
 * The seed generator on its own (src/seed/): reproducible, complete (every type a US Core
 * server has, every US Core profile, every must-support element of each profile this server
 * ships), internally consistent (ids unique, references resolve) and valid.
 */
import type { Resource, StructureDefinition } from 'fhir/r4.js';
import t from 'tap';
import { ID_PATTERN } from '../../src/fhir/resource-types.js';
import { generatePopulation } from '../../src/seed/generate.js';
import { createValidator } from '../../src/validation/index.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const ANCHOR = new Date('2026-01-05T00:00:00Z');
const population = generatePopulation({ seed: 'test', patients: 2, anchor: ANCHOR });
const { validator, profiles } = createValidator({ defaultProfiles: true });

const US_CORE = 'http://hl7.org/fhir/us/core/StructureDefinition/';
/** Every resource type of US Core 5.0.1's server CapabilityStatement, and what telehealth adds. */
const TYPES = [
  'AllergyIntolerance',
  'CarePlan',
  'CareTeam',
  'Condition',
  'Device',
  'DiagnosticReport',
  'DocumentReference',
  'Encounter',
  'Endpoint',
  'Goal',
  'Group',
  'Immunization',
  'Location',
  'Medication',
  'MedicationRequest',
  'Observation',
  'Organization',
  'Patient',
  'Practitioner',
  'PractitionerRole',
  'Procedure',
  'Provenance',
  'QuestionnaireResponse',
  'RelatedPerson',
  'ServiceRequest',
  'Appointment',
  'Schedule',
  'Slot',
  'Binary',
];
/** US Core 5.0.1's resource profiles this generator is meant to exercise. */
const PROFILES = [
  'us-core-allergyintolerance',
  'us-core-careplan',
  'us-core-careteam',
  'us-core-condition-encounter-diagnosis',
  'us-core-condition-problems-health-concerns',
  'us-core-implantable-device',
  'us-core-diagnosticreport-lab',
  'us-core-diagnosticreport-note',
  'us-core-documentreference',
  'us-core-encounter',
  'us-core-goal',
  'us-core-immunization',
  'us-core-location',
  'us-core-medication',
  'us-core-medicationrequest',
  'us-core-organization',
  'us-core-patient',
  'us-core-practitioner',
  'us-core-practitionerrole',
  'us-core-procedure',
  'us-core-provenance',
  'us-core-questionnaireresponse',
  'us-core-relatedperson',
  'us-core-servicerequest',
  'us-core-observation-lab',
  'us-core-blood-pressure',
  'us-core-bmi',
  'us-core-body-height',
  'us-core-body-temperature',
  'us-core-body-weight',
  'us-core-heart-rate',
  'us-core-respiratory-rate',
  'us-core-pulse-oximetry',
  'pediatric-bmi-for-age',
  'pediatric-weight-for-height',
  'head-occipital-frontal-circumference-percentile',
  'us-core-smokingstatus',
  'us-core-observation-sdoh-assessment',
  'us-core-observation-sexual-orientation',
  'us-core-observation-clinical-test',
  'us-core-observation-imaging',
].map((name) => `${US_CORE}${name}`);

t.test(
  'the same seed and anchor give the very same population; another seed another',
  async (t) => {
    const again = generatePopulation({ seed: 'test', patients: 2, anchor: ANCHOR });
    t.equal(JSON.stringify(again), JSON.stringify(population));
    const other = generatePopulation({ seed: 'other', patients: 2, anchor: ANCHOR });
    t.not(JSON.stringify(other), JSON.stringify(population));
    const ids = (list: Resource[]) => new Set(list.map((r) => `${r.resourceType}/${r.id}`));
    const shared = [...ids(other)].filter((key) => ids(population).has(key));
    t.same(shared, [], 'two seeds never write over each other');
    t.ok(
      generatePopulation({ seed: 'test', patients: 5, anchor: ANCHOR }).length > population.length,
    );
  },
);

t.test('every type and every US Core profile is made', async (t) => {
  const types = new Set(population.map((r) => r.resourceType));
  t.same(
    TYPES.filter((type) => !types.has(type)),
    [],
    'no type missing',
  );
  const claimed = new Set(population.flatMap((r) => r.meta?.profile ?? []));
  t.same(
    PROFILES.filter((url) => !claimed.has(url)),
    [],
    'no profile missing',
  );
});

t.test(
  'ids are unique and valid, and every reference resolves inside the population',
  async (t) => {
    const keys = population.map((r) => `${r.resourceType}/${r.id}`);
    t.equal(new Set(keys).size, keys.length);
    t.same(
      population.filter((r) => !ID_PATTERN.test(r.id ?? '')),
      [],
    );
    const known = new Set(keys);
    const dangling = [...JSON.stringify(population).matchAll(/"reference":"([^"]+)"/g)]
      .map((m) => m[1]!)
      .filter((ref) => !known.has(ref));
    t.same(dangling, []);
  },
);

const errors = (resources: Resource[]) =>
  resources.flatMap((resource) =>
    validator
      .validate(resource)
      .filter((issue) => issue.severity === 'error')
      .map((issue) => `${resource.resourceType}/${resource.id}: ${issue.diagnostics}`),
  );

t.test('every resource is valid: R4 and the profiles this server ships', async (t) => {
  t.same(errors(population), []);
  // The check bites: a Patient without a gender breaks US Core.
  const broken = { ...population.find((r) => r.resourceType === 'Patient')!, gender: undefined };
  t.ok(validator.validate(broken as Resource).some((issue) => issue.severity === 'error'));
});

t.test(
  'a larger population, of another seed, is valid with US Core enforced by default, as `npm run seed` writes it',
  async (t) => {
    // 16 patients reach every branch: children of each age band, devices, related persons, old
    // names, three-visit patients.
    const wide = generatePopulation({ seed: 'wide', patients: 16, anchor: ANCHOR });
    t.same(errors(wide), []);
    // Each resource is held to the profile it claims by the server's own default selection,
    // so a write that claims nothing is checked the same.
    const unselected = wide
      .filter((r) => r.meta?.profile?.some((url) => profiles.get(url)))
      .filter(
        (r) =>
          !r.meta!.profile!.every(
            (url) => !profiles.get(url) || profiles.defaultsFor(r).includes(url),
          ),
      )
      .map((r) => `${r.resourceType}/${r.id}`);
    t.same(unselected, []);
    // The check bites: a sign taken by phone that neither has a value nor says why not.
    const phone = wide.find(
      (r) => r.resourceType === 'Observation' && r.id!.endsWith('-hr') && 'dataAbsentReason' in r,
    )!;
    t.ok(phone, 'a heart rate not taken, at a visit by phone');
    const silent = { ...phone, dataAbsentReason: undefined, component: undefined };
    t.not(errors([silent as Resource]), []);
  },
);

/** Values at an element path (`Patient.name.family`; `value[x]` matches any value type). */
function valuesAt(resource: Json, path: string): unknown[] {
  let values: unknown[] = [resource];
  for (const segment of path.split('.').slice(1)) {
    values = values.flatMap((value) => {
      if (!value || typeof value !== 'object') return [];
      const keys = segment.endsWith('[x]')
        ? Object.keys(value).filter((k) => k.startsWith(segment.slice(0, -3)))
        : [segment];
      return keys.flatMap((key) => {
        const found = (value as Json)[key];
        return found === undefined ? [] : Array.isArray(found) ? found : [found];
      });
    });
  }
  return values;
}

t.test('every must-support element of every shipped US Core profile is used', async (t) => {
  const shipped = profiles
    .all()
    .filter((sd: StructureDefinition) => sd.url.startsWith(US_CORE) && sd.kind === 'resource');
  t.ok(shipped.length >= 5, 'the profiles to check');
  for (const sd of shipped) {
    const claiming = population.filter(
      (r) => r.meta?.profile?.includes(sd.url) || profiles.defaultsFor(r).includes(sd.url),
    );
    t.ok(claiming.length, `${sd.url} is used`);
    const missing = (sd.snapshot?.element ?? [])
      .filter((element) => element.mustSupport && element.path.includes('.'))
      .filter((element) => {
        const values = claiming.flatMap((r) => valuesAt(r as Json, element.path));
        const extension = element.sliceName && /\.(modifierE|e)xtension$/.test(element.path);
        const url = element.type?.[0]?.profile?.[0];
        return extension && url
          ? !values.some((v) => (v as Json).url === url)
          : values.length === 0;
      })
      .map((element) => element.id);
    t.same(missing, [], `${sd.url}: every must-support element`);
  }
});
