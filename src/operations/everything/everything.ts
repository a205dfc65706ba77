/**
 * `GET|POST /fhir/Patient/{id}/$everything` (R4): the Patient and every resource in its
 * Patient compartment (src/auth/compartment.ts: R4's CompartmentDefinition as the server
 * applies it, so a type served later is in it with nothing to change here), with the
 * Practitioners, Organizations, Locations and Medications those refer to, as a searchset paged
 * by sealed cursors. `_since` keeps members updated since an instant, `_type` limits the types.
 *
 * Held to the caller's grant as search is: each member is held to the search grant on its own
 * type (a `patient/Observation.rs` token gets Observations only), what they refer to to the read
 * grant on its type; types the token can't read are left out, as `_include=*` leaves them out,
 * and a `_type` naming one is 403, as an `_include` naming one is. A patient the caller doesn't
 * reach is 404, as a read of their resources is.
 *
 * Not members, though R4's compartment lists them: AuditEvent (the server's record of access,
 * not the patient's record; each call here would add to it) and Binary (its bytes are served
 * by the documents routes, which the DocumentReferences returned here point at).
 *
 * What comes along is what the page's members refer to: with `_type`, what the listed member
 * types refer to (a Practitioner only an Encounter names comes with `_type=Encounter,
 * Practitioner`, not with `_type=Observation,Practitioner`).
 */
import type { Bundle, BundleEntry, BundleLink, FhirResource, Resource } from 'fhir/r4.js';
import { isInPatientCompartment } from '../../auth/compartment.js';
import { FhirError } from '../../fhir/errors.js';
import { parseCount, parseInstant } from '../../fhir/params.js';
import { RESOURCE_TYPES } from '../../fhir/resource-types.js';
import { DEFAULT_COUNT, MAX_COUNT } from '../../search/parse.js';
import type { CompartmentPosition } from '../../store/store.js';
import { forbidden } from '../caller.js';
import { valueOf, valuesOf } from '../operation.js';
import { requirePatientReached } from '../patient-reach.js';
import { openPage, operationLink, sealPage, type ReadCall } from '../read-operation.js';

const NOT_MEMBERS = new Set(['AuditEvent', 'Binary']);
/** What the spec suggests bringing along: who and where the record refers to, and drugs. */
const REFERENCED = ['Practitioner', 'Organization', 'Location', 'Medication'];

/** `_type` as given (comma lists split), each a served type, or 400. */
function requestedTypes(call: ReadCall): string[] | undefined {
  const given = valuesOf<string>(call, '_type', 'Code').flatMap((v) => v.split(','));
  if (!given.length) return undefined;
  const types = [...new Set(given.map((type) => type.trim()))];
  const unknown = types.filter((type) => !RESOURCE_TYPES.has(type));
  if (unknown.length) {
    throw new FhirError(
      400,
      'not-supported',
      `_type names types not served: ${unknown.join(', ')}`,
    );
  }
  return types;
}

interface Plan {
  members: string[];
  referenced: string[];
}

/** The types to list, each one the caller may read; a `_type` beyond the grant is 403. */
function plan(call: ReadCall, requested: string[] | undefined): Plan {
  const { policy } = call.ex;
  const memberTypes = [...RESOURCE_TYPES.keys()].filter(
    (type) => isInPatientCompartment(type) && !NOT_MEMBERS.has(type),
  );
  const referencedTypes = REFERENCED.filter((type) => RESOURCE_TYPES.has(type));
  for (const type of requested ?? []) {
    const member = memberTypes.includes(type);
    if (!member && !referencedTypes.includes(type)) {
      throw new FhirError(400, 'invalid', `${type} is not part of a patient's $everything`);
    }
    if (!policy.grant(type, member ? 'search' : 'read')) {
      throw forbidden(`The token's scopes and role do not allow reading ${type}`);
    }
  }
  const wanted = (type: string) => !requested || requested.includes(type);
  return {
    members: memberTypes.filter((type) => wanted(type) && policy.grant(type, 'search')),
    referenced: referencedTypes.filter((type) => wanted(type) && policy.grant(type, 'read')),
  };
}

const entry = (ex: ReadCall['ex'], resource: Resource, mode: 'match' | 'include') =>
  ({
    fullUrl: `${ex.baseUrl}/${resource.resourceType}/${resource.id}`,
    resource: resource as FhirResource,
    search: { mode },
  }) satisfies BundleEntry;

export async function everything(call: ReadCall): Promise<Bundle> {
  const { ex } = call;
  const patient = call.id!;
  const compartment = ex.store.compartment?.bind(ex.store);
  if (!compartment) {
    throw new FhirError(
      501,
      'not-supported',
      'Patient $everything is not available with this store (HealthLake): use the searches of each type',
    );
  }
  const requested = requestedTypes(call);
  const types = plan(call, requested);
  if (requested && !requested.some((type) => types.members.includes(type))) {
    // What members refer to is found from the members listed: with none, nothing would be.
    throw new FhirError(
      400,
      'invalid',
      '_type must name at least one type of the compartment (Patient, Observation, ...)',
    );
  }
  if (!types.members.length) {
    throw forbidden("The token's scopes and role allow reading none of a patient's record");
  }
  await requirePatientReached(ex, patient, types.members);
  const sinceRaw = valueOf<string>(call, '_since', 'Instant');
  const since = sinceRaw === undefined ? undefined : parseInstant('_since', sinceRaw);
  const countRaw = valueOf<number>(call, '_count', 'Integer');
  const count = parseCount(
    countRaw === undefined ? undefined : String(countRaw),
    DEFAULT_COUNT,
    MAX_COUNT,
  );

  const applied: [string, string][] = [];
  if (sinceRaw !== undefined) applied.push(['_since', sinceRaw]);
  if (requested) applied.push(['_type', requested.join(',')]);
  if (countRaw !== undefined) applied.push(['_count', String(count)]);
  const scope = ['everything', patient, applied];
  const after = call.cursor
    ? await openPage<CompartmentPosition>(ex, scope, call.cursor)
    : undefined;

  const page = await compartment(
    {
      patient,
      types: types.members,
      ...(since ? { since } : {}),
      count,
      referenced: types.referenced,
      ...(after ? { after } : {}),
    },
    ex.ctx,
  );
  const path = `/Patient/${patient}/$everything`;
  const link: BundleLink[] = [
    { relation: 'self', url: operationLink(ex, path, applied, call.cursor) },
  ];
  if (page.next) {
    const cursor = await sealPage(ex, scope, page.next);
    link.push({ relation: 'next', url: operationLink(ex, path, applied, cursor) });
  }
  return {
    resourceType: 'Bundle',
    type: 'searchset',
    // Free only when one page holds every member; counting would cost a second scan.
    ...(!after && !page.next && count > 0 ? { total: page.members.length } : {}),
    link,
    entry: [
      ...page.members.map((resource) => entry(ex, resource, 'match')),
      ...page.referenced.map((resource) => entry(ex, resource, 'include')),
    ],
  };
}
