/**
 * `GET|POST /fhir/DocumentReference/$docref` (US Core 5.0.1): a patient's stored documents
 * for a range of care dates and, optionally, of one type, as a searchset. It is the search
 * `DocumentReference?patient=&period=ge{start}&period=le{end}&type=` (context.period
 * overlapping the range, as US Core's "care dates, not record dates" asks), run through the
 * store like any search, so it holds to the caller's grant the same way on every store.
 * Nothing is generated on demand. A patient the caller doesn't reach is 404, as a read is.
 */
import type { Bundle, BundleLink, Coding, FhirResource } from 'fhir/r4.js';
import { authorize } from '../../auth/authorize.js';
import { FhirError } from '../../fhir/errors.js';
import { parseSearch } from '../../search/parse.js';
import type { PagePosition } from '../../search/query.js';
import { valueOf } from '../operation.js';
import { requirePatientReached } from '../patient-reach.js';
import { openPage, operationLink, sealPage, type ReadCall } from '../read-operation.js';

const PATH = '/DocumentReference/$docref';

/** The operation's parameters as given, for its links (values as a URL carries them). */
function applied(call: ReadCall): [string, string][] {
  const out: [string, string][] = [['patient', valueOf<string>(call, 'patient', 'Id')!]];
  for (const name of ['start', 'end']) {
    const value = valueOf<string>(call, name, 'DateTime');
    if (value !== undefined) out.push([name, value]);
  }
  const type = valueOf<Coding>(call, 'type', 'Coding');
  if (type) {
    if (!type.code) throw new FhirError(400, 'required', 'Parameter "type" needs a code');
    out.push(['type', type.system === undefined ? type.code : `${type.system}|${type.code}`]);
  }
  return out;
}

/** The search it is: patient, care dates overlapping start..end, type. */
function searchOf(given: [string, string][]): URLSearchParams {
  const search = new URLSearchParams();
  for (const [name, value] of given) {
    if (name === 'patient') search.append('patient', `Patient/${value}`);
    if (name === 'start') search.append('period', `ge${value}`);
    if (name === 'end') search.append('period', `le${value}`);
    if (name === 'type') search.append('type', value);
  }
  return search;
}

export async function docref(call: ReadCall): Promise<Bundle> {
  const { ex } = call;
  authorize(ex.policy, 'DocumentReference', 'search');
  valueOf<boolean>(call, 'on-demand', 'Boolean'); // checked for its type; nothing is generated
  const given = applied(call);
  const patient = given[0]![1];
  await requirePatientReached(ex, patient, ['DocumentReference']);
  const query = parseSearch('DocumentReference', searchOf(given), {
    baseUrl: ex.baseUrl,
    strict: true,
  });
  const scope = ['docref', given];
  const position = call.cursor ? await openPage<PagePosition>(ex, scope, call.cursor) : undefined;
  const result = await ex.store.search(query, ex.ctx, position);
  const link: BundleLink[] = [
    { relation: 'self', url: operationLink(ex, PATH, given, call.cursor) },
  ];
  if (result.next) {
    const cursor = await sealPage(ex, scope, result.next);
    link.push({ relation: 'next', url: operationLink(ex, PATH, given, cursor) });
  }
  return {
    resourceType: 'Bundle',
    type: 'searchset',
    ...(result.total === undefined ? {} : { total: result.total }),
    link,
    entry: result.matches.map((resource) => ({
      fullUrl: `${ex.baseUrl}/DocumentReference/${resource.id}`,
      resource: resource as FhirResource,
      search: { mode: 'match' as const },
    })),
  };
}
