/**
 * Who a Binary belongs to, and who may reach it. A Binary's access follows the document it
 * belongs to: its securityContext (a DocumentReference, or a Patient) must be readable under
 * the caller's own grants, and a DocumentReference must still belong to the patient recorded
 * when the Binary was made. Callers whose Binary grant has no compartment and no filter pass:
 * they could read every Binary anyway (README "Documents" lists who they are).
 */
import type { Binary, DocumentReference, Reference, Resource } from 'fhir/r4.js';
import type { Access } from '../auth/policy.js';
import { ownerOf } from '../fhir/binary.js';
import { FhirError } from '../fhir/errors.js';
import { parseReference } from '../search/references.js';
import type { FhirStore, RequestContext } from '../store/store.js';

/** As if it weren't there: a 403 would tell the caller the Binary exists. */
export const binaryNotFound = (id: string) =>
  new FhirError(404, 'not-found', `Binary/${id} is not known`);

export function isFhirError(error: unknown, ...statuses: number[]): boolean {
  return error instanceof FhirError && statuses.includes(error.statusCode);
}

/** The caller's grant on Binary for `access` covers every Binary: no compartment, no filter. */
export function unrestrictedOn(ctx: RequestContext, access: Access): boolean {
  if (ctx.access === 'unrestricted') return true;
  const grant = ctx.access.grant('Binary', access);
  return (
    grant !== undefined &&
    grant.compartments.some((c) => c.kind === 'all') &&
    grant.filters.length === 0
  );
}

/**
 * Conditional update and delete find their Binary inside the store, past the securityContext
 * check; so they are left to callers who pass that check for every Binary anyway.
 */
export function requireUnrestricted(
  ctx: RequestContext,
  access: Access,
  what = `Conditional ${access} of Binary`,
): void {
  if (!unrestrictedOn(ctx, access)) {
    throw new FhirError(
      403,
      'forbidden',
      `${what} needs access to every Binary; use Binary/[id]`,
      undefined,
      { 'www-authenticate': 'Bearer realm="telefhir", error="insufficient_scope"' },
    );
  }
}

/** `Patient/id` when the reference is to a Patient; a DocumentReference's owner. */
export function patientOf(reference: Reference | undefined, baseUrl: string): string | undefined {
  const parsed = reference?.reference ? parseReference(reference.reference, baseUrl) : undefined;
  return parsed?.targetType === 'Patient' && parsed.targetId
    ? `Patient/${parsed.targetId}`
    : undefined;
}

interface Context {
  type: 'DocumentReference' | 'Patient';
  id: string;
}

function contextOf(binary: Binary, baseUrl: string): Context | undefined | 'other' {
  const reference = binary.securityContext?.reference;
  if (reference === undefined) return undefined;
  const parsed = parseReference(reference, baseUrl);
  if (
    (parsed?.targetType === 'DocumentReference' || parsed?.targetType === 'Patient') &&
    parsed.targetId
  ) {
    return { type: parsed.targetType, id: parsed.targetId };
  }
  return 'other';
}

/**
 * The owner a new Binary version records, from its securityContext, which the caller must be
 * able to read: 403 otherwise (a write can't attach bytes to someone else's record).
 */
export async function contextOwner(
  store: FhirStore,
  binary: Binary,
  ctx: RequestContext,
  baseUrl: string,
): Promise<string | undefined> {
  const context = contextOf(binary, baseUrl);
  if (context === undefined) return undefined;
  if (context === 'other') {
    throw new FhirError(
      422,
      'value',
      'Binary.securityContext must reference a DocumentReference or a Patient',
      'Binary.securityContext',
    );
  }
  let target: Resource;
  try {
    target = await store.read(context.type, context.id, ctx);
  } catch (error) {
    if (!isFhirError(error, 403, 404, 410)) throw error;
    throw new FhirError(
      403,
      'forbidden',
      `Binary.securityContext names ${context.type}/${context.id}, which this caller can't read`,
      'Binary.securityContext',
    );
  }
  return context.type === 'Patient'
    ? `Patient/${context.id}`
    : patientOf((target as DocumentReference).subject, baseUrl);
}

/**
 * Whether the caller may reach this Binary version beyond its Binary grant: what its
 * securityContext names must be readable under the caller's own grants (a Patient context
 * under the Patient grant, a DocumentReference one under the DocumentReference grant, with
 * its v2 filters), and a DocumentReference must still belong to the recorded owner, so access
 * never follows whatever later holds that id. Unrestricted callers pass: they could read it
 * without any context.
 */
export async function mayReach(
  store: FhirStore,
  binary: Binary,
  ctx: RequestContext,
  access: Access,
  baseUrl: string,
): Promise<boolean> {
  if (unrestrictedOn(ctx, access)) return true;
  const context = contextOf(binary, baseUrl);
  if (context === undefined || context === 'other') return false;
  let target: Resource;
  try {
    target = await store.read(context.type, context.id, ctx);
  } catch (error) {
    if (isFhirError(error, 403, 404, 410)) return false;
    throw error;
  }
  if (context.type === 'Patient') return true;
  const subject = patientOf((target as DocumentReference).subject, baseUrl);
  return subject === ownerOf(binary);
}
