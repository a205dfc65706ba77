import type { FastifyInstance } from 'fastify';
import { FhirError } from '../fhir/errors.js';
import { loadOperation } from '../fhir/operation-parameters.js';
import type { Workflow } from '../workflow/workflow.js';
import { book } from './book/book.js';
import { cancel } from './book/cancel.js';
import { prescribe } from './prescribe/prescribe.js';
import { endVisit } from './start-visit/end-visit.js';
import { expunge, type ExpungeServices } from './expunge/expunge.js';
import { startVisit } from './start-visit/start-visit.js';
import { everything } from './everything/everything.js';
import { docref } from './docref/docref.js';
import { registerReadOperation, type ReadOperationSpec } from './read-operation.js';
import {
  operationDefinition,
  registerOperation,
  type OperationServices,
  type OperationSpec,
} from './operation.js';

/** Every telehealth operation: its definition file, route and handler. */
export const OPERATIONS: readonly OperationSpec[] = [
  { file: 'book.json', path: '/Appointment/$book', run: book, replay: 'store' },
  { file: 'cancel.json', path: '/Appointment/:id/$cancel', run: cancel, replay: 'store' },
  {
    file: 'start-visit.json',
    path: '/Appointment/:id/$start-visit',
    run: startVisit,
    replay: 'verify',
  },
  { file: 'end-visit.json', path: '/Encounter/:id/$end-visit', run: endVisit, replay: 'store' },
  {
    file: 'prescribe.json',
    path: '/MedicationRequest/$prescribe',
    run: prescribe,
    replay: 'store',
  },
  { file: 'expunge.json', path: '/Patient/:id/$expunge', run: expunge, replay: 'store' },
];

/** The operations that only read: GET or POST, no transaction, audited as a query is. */
export const READ_OPERATIONS: readonly ReadOperationSpec[] = [
  { file: 'everything.json', path: '/Patient/:id/$everything', run: everything },
  { file: 'docref.json', path: '/DocumentReference/$docref', run: docref },
];

/**
 * Bulk Data $export (src/export/routes.ts serves them): listed and readable here like the rest.
 * System level first, then the Patient and Group levels.
 */
export const EXPORT_DEFINITIONS: readonly string[] = [
  'export.json',
  'patient-export.json',
  'group-export.json',
];

/** The system-level operations (name and canonical URL), for the CapabilityStatement. */
export function systemOperations(baseUrl: string): { name: string; definition: string }[] {
  return EXPORT_DEFINITIONS.map((file) => operationDefinition(file, baseUrl))
    .filter((definition) => definition.system)
    .map((definition) => ({ name: definition.code, definition: definition.url! }));
}

/** Type → operations listed for it in the CapabilityStatement (name and canonical URL). */
export function operationsFor(
  type: string,
  baseUrl: string,
): { name: string; definition: string }[] {
  return [...OPERATIONS, ...READ_OPERATIONS, ...EXPORT_DEFINITIONS.map((file) => ({ file }))]
    .map((spec) => operationDefinition(spec.file, baseUrl))
    .filter((definition) => definition.resource?.includes(type))
    .map((definition) => ({ name: definition.code, definition: definition.url! }));
}

export interface OperationOptions extends OperationServices {
  workflow: Workflow;
}

/** The operations' routes, and their OperationDefinitions at `GET /OperationDefinition/{id}`. */
export async function telehealthOperations(app: FastifyInstance, options: OperationOptions) {
  const ids = new Map<string, string>();
  const services: ExpungeServices = { ...options, blobs: app.blobs };
  for (const spec of OPERATIONS) {
    const definition = registerOperation(app, options.workflow, services, spec);
    ids.set(definition.id!, spec.file);
  }
  for (const spec of READ_OPERATIONS) {
    const definition = registerReadOperation(app, spec);
    ids.set(definition.id!, spec.file);
  }
  for (const file of EXPORT_DEFINITIONS) ids.set(loadOperation(file).id!, file);
  app.get<{ Params: { id: string } }>('/OperationDefinition/:id', async (request) => {
    const file = ids.get(request.params.id);
    if (!file) {
      throw new FhirError(
        404,
        'not-found',
        `OperationDefinition/${request.params.id} is not known`,
      );
    }
    return operationDefinition(file, app.config.baseUrl);
  });
}
