/**
 * Whether a caller reaches a patient's record at all, for the operations about one patient
 * ($everything, $docref): some type they may search must have the patient in its compartment.
 * A patient outside it is 404, as a read of another patient's resource is (the store's read),
 * so the answer says nothing about whether that patient exists.
 */
import type { Compartment, TypeGrant } from '../auth/policy.js';
import { FhirError, notFound } from '../fhir/errors.js';
import { ID_PATTERN } from '../fhir/resource-types.js';
import type { Exchange } from '../exchange/exchange.js';

/** 'yes' and 'no' are known from the token; the rest needs the database (an assignment). */
function reachOf(compartment: Compartment, patient: string): 'yes' | 'no' | 'ask' {
  switch (compartment.kind) {
    case 'all':
      return 'yes';
    case 'patients':
      if (!compartment.ids.includes(patient)) return 'no';
      return compartment.within ? 'ask' : 'yes';
    default:
      return 'ask';
  }
}

/**
 * 404 unless a search grant on one of `types` reaches `patient`; 410 when it was deleted. A
 * compartment only the database can decide (a practitioner's patients, a guardian's) is asked
 * of the store as a read of the Patient under just those compartments, so each store applies
 * its own rule for them, the one its reads and searches apply.
 */
export async function requirePatientReached(
  ex: Exchange,
  patient: string,
  types: readonly string[],
): Promise<void> {
  if (!ID_PATTERN.test(patient)) throw new FhirError(400, 'value', `"${patient}" is not an id`);
  const grants = types.flatMap((type) => ex.policy.grant(type, 'search') ?? []);
  const compartments = grants.flatMap((grant) => grant.compartments);
  const reach = compartments.map((c) => reachOf(c, patient));
  const server = { ...ex.ctx, access: 'unrestricted' as const };
  if (!reach.includes('yes')) {
    const asked = compartments.filter((_, i) => reach[i] === 'ask');
    if (!asked.length) throw notFound('Patient', patient);
    const grant: TypeGrant = {
      type: 'Patient',
      access: new Set(['read']),
      compartments: asked,
      filters: [],
    };
    const access = {
      grant: (type: string, access: string) =>
        type === 'Patient' && access === 'read' ? grant : undefined,
    };
    await ex.store.read('Patient', patient, { ...ex.ctx, access });
  }
  await ex.store.read('Patient', patient, server);
}
