/**
 * $prescribe: an active order MedicationRequest signed by its prescriber, its Provenance and
 * its prescription workflow row, in one transaction. A second open prescription of the same
 * RxNorm code for the patient is refused unless the prescriber says why it is needed.
 */
import type {
  CodeableConcept,
  Dosage,
  Medication,
  MedicationRequest,
  Provenance,
  Reference,
} from 'fhir/r4.js';
import { FhirError } from '../../fhir/errors.js';
import { assertValid } from '../../exchange/assert-valid.js';
import { parseSearch } from '../../search/parse.js';
import { forbidden, hasRole, isBackend, scopeAllows, userReference } from '../caller.js';
import {
  referenceId,
  SERVER,
  valueOf,
  valuesOf,
  type OperationCall,
  type OperationResult,
} from '../operation.js';
import { openPrescription, recordPrescription } from './prescriptions.js';

export const RXNORM = 'http://www.nlm.nih.gov/research/umls/rxnorm';
export const US_CORE_MEDICATION_REQUEST =
  'http://hl7.org/fhir/us/core/StructureDefinition/us-core-medicationrequest';

const unprocessable = (why: string) => new FhirError(422, 'processing', why);

/** A PROVIDER prescribes as themself; a backend service must say who the prescriber is. */
function prescriber(call: OperationCall, patientId: string): string {
  const { principal } = call.ex.policy;
  if (!scopeAllows(principal, 'MedicationRequest', 'c', [patientId])) {
    throw forbidden('Prescribing needs a scope that allows creating MedicationRequests');
  }
  const named = referenceId(call, 'requester', 'Practitioner');
  if (isBackend(principal)) {
    if (!named) throw new FhirError(400, 'required', 'A system caller must name the requester');
    return `Practitioner/${named}`;
  }
  const self = userReference(principal);
  if (!hasRole(principal, 'PROVIDER') || !self?.startsWith('Practitioner/')) {
    throw forbidden('Only a PROVIDER whose fhirUser is a Practitioner may prescribe');
  }
  if (named && `Practitioner/${named}` !== self) {
    throw forbidden('A PROVIDER prescribes as themself, not as another requester');
  }
  return self;
}

async function readOr422(call: OperationCall, type: string, id: string, asCaller = false) {
  try {
    return await call.tx.store.read(type, id, asCaller ? call.ex.ctx : SERVER);
  } catch (error) {
    if (error instanceof FhirError && [403, 404, 410].includes(error.statusCode)) {
      throw unprocessable(`${type}/${id} does not exist or is not accessible to the caller`);
    }
    throw error;
  }
}

/** The medication as the request will carry it, and its RxNorm code. */
async function medicationOf(call: OperationCall) {
  const [parameter] = call.params.get('medication') ?? [];
  if (parameter?.valueCodeableConcept) {
    const concept: CodeableConcept = parameter.valueCodeableConcept;
    const code = concept.coding?.find((c) => c.system === RXNORM && c.code)?.code;
    if (!code) throw new FhirError(400, 'value', 'medication must carry an RxNorm code');
    return { field: { medicationCodeableConcept: concept }, rxnorm: code };
  }
  if (parameter?.valueReference) {
    const id = referenceId(call, 'medication', 'Medication')!;
    const medication = (await readOr422(call, 'Medication', id)) as Medication;
    const code = medication.code?.coding?.find((c) => c.system === RXNORM && c.code)?.code;
    if (!code) throw unprocessable(`Medication/${id} has no RxNorm code`);
    const reference: Reference = { reference: `Medication/${id}` };
    return { field: { medicationReference: reference }, rxnorm: code };
  }
  throw new FhirError(
    400,
    'invalid',
    'medication must be a valueCodeableConcept or valueReference',
  );
}

function dispenseRequestOf(call: OperationCall): MedicationRequest['dispenseRequest'] {
  const [parameter] = call.params.get('dispenseRequest') ?? [];
  if (!parameter) return undefined;
  const allowed: Record<string, string> = {
    quantity: 'valueQuantity',
    numberOfRepeatsAllowed: 'valueUnsignedInt',
    expectedSupplyDuration: 'valueDuration',
    validityPeriod: 'valuePeriod',
  };
  const request: Record<string, unknown> = {};
  for (const part of parameter.part ?? []) {
    const field = allowed[part.name];
    const value = field ? (part as unknown as Record<string, unknown>)[field] : undefined;
    if (value === undefined) {
      throw new FhirError(
        400,
        'invalid',
        `dispenseRequest has no part "${part.name}" of that type`,
      );
    }
    request[part.name] = value;
  }
  return request as MedicationRequest['dispenseRequest'];
}

/** An active MedicationRequest of this code for the patient, however it was written. */
async function activeDuplicate(call: OperationCall, patientId: string, rxnorm: string) {
  const query = parseSearch(
    'MedicationRequest',
    new URLSearchParams({
      subject: `Patient/${patientId}`,
      status: 'active',
      code: `${RXNORM}|${rxnorm}`,
    }),
    { baseUrl: '', strict: true },
  );
  const found = await call.tx.store.search(query, SERVER);
  return found.matches[0]?.id ?? (await openPrescription(call.tx.sql, patientId, rxnorm));
}

export async function prescribe(call: OperationCall): Promise<OperationResult> {
  const { ex, tx, now } = call;
  const patientId = referenceId(call, 'patient', 'Patient')!;
  const requester = prescriber(call, patientId);
  await readOr422(call, 'Patient', patientId, true);
  await readOr422(call, requester.split('/')[0]!, requester.split('/')[1]!);
  const encounterId = referenceId(call, 'encounter', 'Encounter');
  if (encounterId) {
    const encounter = await readOr422(call, 'Encounter', encounterId, true);
    if ((encounter as { subject?: Reference }).subject?.reference !== `Patient/${patientId}`) {
      throw unprocessable(`Encounter/${encounterId} is not Patient/${patientId}'s`);
    }
  }
  const { field, rxnorm } = await medicationOf(call);
  const allowDuplicate = valueOf<boolean>(call, 'allowDuplicate', 'Boolean') === true;
  const reason = valueOf<string>(call, 'reason', 'String')?.trim();
  if (allowDuplicate && !reason) {
    throw new FhirError(400, 'required', 'allowDuplicate=true needs a reason');
  }
  // Prescriptions of one code for one patient are decided one at a time.
  await tx.sql.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 11))', [
    `prescribe:${patientId}:${rxnorm}`,
  ]);
  if (!allowDuplicate) {
    const existing = await activeDuplicate(call, patientId, rxnorm);
    if (existing) {
      throw new FhirError(
        409,
        'duplicate',
        `Patient/${patientId} already has an active MedicationRequest/${existing} for RxNorm ${rxnorm}; ` +
          'send allowDuplicate=true with a reason to prescribe it again',
      );
    }
  }
  const note = valueOf<string>(call, 'note', 'String');
  const dispenseRequest = dispenseRequestOf(call);
  const request: MedicationRequest = {
    resourceType: 'MedicationRequest',
    status: 'active',
    intent: 'order',
    ...field,
    subject: { reference: `Patient/${patientId}` },
    ...(encounterId ? { encounter: { reference: `Encounter/${encounterId}` } } : {}),
    authoredOn: now.toISOString(),
    requester: { reference: requester },
    dosageInstruction: valuesOf<Dosage>(call, 'dosageInstruction', 'Dosage'),
    ...(dispenseRequest ? { dispenseRequest } : {}),
    ...(note ? { note: [{ text: note }] } : {}),
  };
  assertValid(ex, request, [US_CORE_MEDICATION_REQUEST]);
  const created = (await tx.store.create(request, SERVER)) as MedicationRequest;
  const provenance: Provenance = {
    resourceType: 'Provenance',
    target: [{ reference: `MedicationRequest/${created.id}` }],
    recorded: now.toISOString(),
    activity: {
      coding: [
        { system: 'http://terminology.hl7.org/CodeSystem/v3-DataOperation', code: 'CREATE' },
      ],
    },
    agent: [
      {
        type: {
          coding: [
            {
              system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type',
              code: 'author',
            },
          ],
        },
        who: { reference: requester },
      },
    ],
  };
  const recorded = await tx.store.create(provenance, SERVER);
  await recordPrescription(tx.sql, {
    medicationRequestId: created.id!,
    patientId,
    rxnorm,
    duplicateReason: allowDuplicate ? reason : undefined,
  });
  return {
    status: 201,
    resource: created,
    location: `${ex.baseUrl}/MedicationRequest/${created.id}/_history/${created.meta?.versionId}`,
    touched: [recorded],
  };
}
