/**
 * The directory a population is served by: clinics (Organization, with a Location and a
 * FHIR Endpoint each), a laboratory, practitioners with their roles and bookable Schedules.
 */
import type {
  Endpoint,
  Location,
  Organization,
  Practitioner,
  PractitionerRole,
  Schedule,
} from 'fhir/r4.js';
import { CITIES, CLINIC_NAMES, FAMILY, GIVEN_FEMALE, GIVEN_MALE, STREETS } from './names.js';
import { concept, NPI, ref, Seeding, SNOMED, US_CORE } from './context.js';

export interface Clinician {
  practitioner: Practitioner;
  role: PractitionerRole;
  schedule: Schedule;
  clinic: Clinic;
}

export interface Clinic {
  organization: Organization;
  location: Location;
}

export interface Directory {
  clinics: Clinic[];
  lab: Organization;
  clinicians: Clinician[];
}

const SPECIALTIES: [string, string][] = [
  ['419772000', 'Family practice'],
  ['394802001', 'General medicine'],
  ['394537008', 'Pediatric specialty'],
  ['394587001', 'Psychiatry'],
];

/** A 10-digit NPI-shaped number (not a real provider's: they start 9 here). */
const npi = (s: Seeding) => `9${s.random.digits(9)}`;

function address(s: Seeding) {
  const [city, state, postalCode] = s.random.pick(CITIES);
  return {
    use: 'work' as const,
    line: [`${s.random.between(10, 9999)} ${s.random.pick(STREETS)}`],
    city,
    state,
    postalCode,
    country: 'US',
  };
}

const phone = (s: Seeding) => `555-${s.random.between(200, 999)}-${s.random.digits(4)}`;

function clinic(s: Seeding, n: number): Clinic {
  const name = CLINIC_NAMES[n % CLINIC_NAMES.length]! + (n >= CLINIC_NAMES.length ? ` ${n}` : '');
  const organization = s.add<Organization>({
    resourceType: 'Organization',
    id: s.id('org', n),
    meta: { profile: [`${US_CORE}us-core-organization`] },
    identifier: [{ system: NPI, value: npi(s) }],
    active: true,
    name,
    telecom: [{ system: 'phone', value: phone(s), use: 'work' }],
    address: [address(s)],
  });
  s.add<Endpoint>({
    resourceType: 'Endpoint',
    id: s.id('endpoint', n),
    status: 'active',
    connectionType: {
      system: 'http://terminology.hl7.org/CodeSystem/endpoint-connection-type',
      code: 'hl7-fhir-rest',
    },
    name: `${name} FHIR API`,
    managingOrganization: ref(organization),
    payloadType: [concept('http://hl7.org/fhir/resource-types', 'Patient', 'Patient')],
    payloadMimeType: ['application/fhir+json'],
    address: `https://fhir.example.org/${s.id('org', n)}`,
  });
  const location = s.add<Location>({
    resourceType: 'Location',
    id: s.id('location', n),
    meta: { profile: [`${US_CORE}us-core-location`] },
    status: 'active',
    name: `${name} virtual clinic`,
    mode: 'instance',
    type: [
      concept('http://terminology.hl7.org/CodeSystem/v3-RoleCode', 'VRLOC', 'Virtual location'),
    ],
    telecom: [{ system: 'url', value: `https://visit.example.org/${s.id('location', n)}` }],
    address: organization.address![0]!,
    managingOrganization: ref(organization),
  });
  return { organization, location };
}

function clinician(s: Seeding, n: number, place: Clinic): Clinician {
  const female = s.random.chance(0.5);
  const given = s.random.pick(female ? GIVEN_FEMALE : GIVEN_MALE);
  const family = s.random.pick(FAMILY);
  const practitioner = s.add<Practitioner>({
    resourceType: 'Practitioner',
    id: s.id('practitioner', n),
    meta: { profile: [`${US_CORE}us-core-practitioner`] },
    identifier: [{ system: NPI, value: npi(s) }],
    active: true,
    name: [{ use: 'official', family, given: [given], prefix: ['Dr'], suffix: ['MD'] }],
    telecom: [{ system: 'email', value: `${given}.${family}@example.org`.toLowerCase() }],
    address: [address(s)],
    gender: female ? 'female' : 'male',
  });
  const [code, display] = s.random.pick(SPECIALTIES);
  const role = s.add<PractitionerRole>({
    resourceType: 'PractitionerRole',
    id: s.id('role', n),
    meta: { profile: [`${US_CORE}us-core-practitionerrole`] },
    active: true,
    practitioner: ref(practitioner),
    organization: ref(place.organization),
    code: [concept('http://nucc.org/provider-taxonomy', '207Q00000X', 'Family Medicine')],
    specialty: [concept(SNOMED, code, display)],
    location: [ref(place.location)],
    telecom: [{ system: 'phone', value: phone(s), use: 'work' }],
    endpoint: [ref(`Endpoint/${place.organization.id!.replace('-org-', '-endpoint-')}`)],
  });
  const schedule = s.add<Schedule>({
    resourceType: 'Schedule',
    id: s.id('schedule', n),
    active: true,
    serviceType: [concept(SNOMED, '11429006', 'Consultation')],
    actor: [ref(practitioner), ref(place.location)],
    planningHorizon: { start: s.at(-365), end: s.at(90) },
    comment: 'Video visits',
  });
  return { practitioner, role, schedule, clinic: place };
}

export function directory(s: Seeding): Directory {
  const clinics = Array.from({ length: Math.max(1, Math.ceil(s.options.patients / 10)) }, (_, n) =>
    clinic(s, n),
  );
  const lab = s.add<Organization>({
    resourceType: 'Organization',
    id: s.id('org', 'lab'),
    meta: { profile: [`${US_CORE}us-core-organization`] },
    identifier: [{ system: NPI, value: npi(s) }],
    active: true,
    type: [
      concept(
        'http://terminology.hl7.org/CodeSystem/organization-type',
        'prov',
        'Healthcare Provider',
      ),
    ],
    name: 'Cascade Reference Laboratory',
    telecom: [{ system: 'phone', value: phone(s), use: 'work' }],
    address: [address(s)],
  });
  const count = Math.max(2, Math.ceil(s.options.patients / 5));
  const clinicians = Array.from({ length: count }, (_, n) =>
    clinician(s, n, clinics[n % clinics.length]!),
  );
  return { clinics, lab, clinicians };
}
