/**
 * Medical record numbers: every Patient gets one from the `patient_mrn_seq` sequence when it is
 * created without one, and no two patients may hold the same MRN (patient_mrn's primary key,
 * kept in the write's transaction by identity-hook.ts).
 */
import type { Identifier, Patient } from 'fhir/r4.js';
import { FhirError } from '../fhir/errors.js';
import type { Sql } from '../db/database.js';

export const V2_0203 = 'http://terminology.hl7.org/CodeSystem/v2-0203';

export interface MrnFormat {
  prefix: string;
  /** Digits, zero-padded; larger numbers simply grow longer. */
  width: number;
  system: string;
}

export function formatMrn(format: MrnFormat, n: bigint | number | string): string {
  return `${format.prefix}${String(n).padStart(format.width, '0')}`;
}

export function mrnIdentifier(format: MrnFormat, value: string): Identifier {
  return {
    use: 'usual',
    type: { coding: [{ system: V2_0203, code: 'MR', display: 'Medical record number' }] },
    system: format.system,
    value,
  };
}

/** The next MRN. nextval never hands the same number out twice, across every replica. */
export async function nextMrn(sql: Sql, format: MrnFormat): Promise<Identifier> {
  const [row] = await sql.query<{ n: string }>(`SELECT nextval('patient_mrn_seq')::text AS n`);
  return mrnIdentifier(format, formatMrn(format, row!.n));
}

export function mrnsOf(patient: Pick<Patient, 'identifier'> | undefined, system: string): string[] {
  return (patient?.identifier ?? [])
    .filter((identifier) => identifier.system === system && identifier.value)
    .map((identifier) => identifier.value!);
}

/**
 * Makes patient_mrn say that `patientId` holds exactly `mrns`. Another patient's MRN is a 409
 * and, thrown inside the write's transaction, undoes the write. A concurrent writer claiming the
 * same MRN waits on the primary key until the first commits, then sees it taken.
 */
export async function claimMrns(sql: Sql, patientId: string, mrns: string[]): Promise<void> {
  await sql.query('DELETE FROM patient_mrn WHERE patient_id = $1 AND NOT (mrn = ANY($2::text[]))', [
    patientId,
    mrns,
  ]);
  if (!mrns.length) return;
  await sql.query(
    `INSERT INTO patient_mrn (mrn, patient_id) SELECT m, $2 FROM unnest($1::text[]) AS m
     ON CONFLICT (mrn) DO NOTHING`,
    [mrns, patientId],
  );
  const taken = await sql.query<{ mrn: string }>(
    'SELECT mrn FROM patient_mrn WHERE mrn = ANY($1::text[]) AND patient_id <> $2 LIMIT 1',
    [mrns, patientId],
  );
  if (taken[0]) {
    throw new FhirError(
      409,
      'duplicate',
      `MRN ${taken[0].mrn} already belongs to another patient`,
      'Patient.identifier',
    );
  }
}

/** Frees the MRNs of patients that are gone for good (purge, $expunge). */
export async function releaseMrns(sql: Sql, patientIds: string[]): Promise<void> {
  if (patientIds.length) {
    await sql.query('DELETE FROM patient_mrn WHERE patient_id = ANY($1::text[])', [patientIds]);
  }
}
