/**
 * The world the $everything and $docref tests share: two patients with records, dr1 (p1's
 * general practitioner), dr2 (nobody's), and tokens for each kind of caller.
 */
import { fhir, testToken } from '../helpers.js';
import {
  documentReference,
  encounter,
  medication,
  medicationRequest,
  observation,
  organization,
  patient,
  practitioner,
} from '../fixtures.js';

export type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export const bearer = (claims: Record<string, unknown>) => ({
  authorization: `Bearer ${testToken(claims)}`,
});

export const TOKENS = {
  p1: bearer({ scope: 'patient/*.rs', patient: 'p1', role: 'PATIENT', fhirUser: 'Patient/p1' }),
  p1Observations: bearer({ scope: 'patient/Observation.rs', patient: 'p1', role: 'PATIENT' }),
  p1Documents: bearer({ scope: 'patient/DocumentReference.rs', patient: 'p1', role: 'PATIENT' }),
  dr1: bearer({ scope: 'user/*.rs', role: 'PROVIDER', fhirUser: 'Practitioner/dr1' }),
  dr2: bearer({ scope: 'user/*.rs', role: 'PROVIDER', fhirUser: 'Practitioner/dr2' }),
  admin: bearer({ scope: 'user/*.*', role: 'ADMIN', fhirUser: 'Practitioner/admin' }),
};

const CARE = (start: string) => ({ context: { period: { start, end: start } } });

export async function seedWorld(base: string) {
  const put = async (resource: Json) => {
    const res = await fhir(base, 'PUT', `${resource.resourceType}/${resource.id}`, resource);
    if (res.status >= 300) throw new Error(`seeding ${resource.id}: ${res.text}`);
  };
  await put({ ...practitioner(), id: 'dr1' });
  await put({ ...practitioner(), id: 'dr2' });
  await put({ ...organization(), id: 'org1' });
  await put({ ...medication(), id: 'med1' });
  await put({
    ...patient(),
    id: 'p1',
    generalPractitioner: [{ reference: 'Practitioner/dr1' }],
    managingOrganization: { reference: 'Organization/org1' },
  });
  await put({ ...patient({ name: [{ family: 'Other' }] }), id: 'p2' });
  await put({ ...encounter('Patient/p1'), id: 'e1' });
  await put({ ...encounter('Patient/p2'), id: 'e2' });
  await put({ ...observation('Patient/p1'), id: 'o1' });
  await put({ ...observation('Patient/p1'), id: 'o2' });
  await put({ ...observation('Patient/p2'), id: 'o3' });
  await put({
    ...medicationRequest('Patient/p1', {
      medicationCodeableConcept: undefined,
      medicationReference: { reference: 'Medication/med1' },
      requester: { reference: 'Practitioner/dr1' },
    }),
    id: 'mr1',
  });
  await put({ ...documentReference('Patient/p1', CARE('2024-01-10T10:00:00Z')), id: 'd1' });
  await put({ ...documentReference('Patient/p1', CARE('2024-06-10T10:00:00Z')), id: 'd2' });
  await put({
    ...documentReference('Patient/p1', {
      ...CARE('2024-06-11T10:00:00Z'),
      type: { coding: [{ system: 'http://loinc.org', code: '11506-3' }] },
    }),
    id: 'd3',
  });
  await put({ ...documentReference('Patient/p2', CARE('2024-06-10T10:00:00Z')), id: 'd4' });
}

/** `Type/id` of every entry, in order. */
export const keys = (bundle: Json | undefined): string[] =>
  (bundle?.entry ?? []).map((e: Json) => `${e.resource.resourceType}/${e.resource.id}`);

/** The path and query of a link, relative to the base, for `fhir()`. */
export const relative = (base: string, url: string) => url.slice(base.length + 1);

export const nextOf = (bundle: Json) =>
  (bundle.link ?? []).find((l: Json) => l.relation === 'next')?.url as string | undefined;
