/**
 * The load scenarios' data, written through the store (the write path: resource rows and index
 * rows). Patients are bench-p-0, bench-p-1, ... and Encounter n belongs to Patient
 * encounterPatient(n), so that pgbench's floor scripts can name the same rows the server is
 * asked for (bench/floor/floors.ts).
 */
import type { Resource } from 'fhir/r4.js';
import type { PostgresStore } from '../../src/store/postgres/postgres-store.js';
import { encounterPatient, patientId } from '../floor/floors.js';
import { seededRandom, syntheticEncounter, syntheticPatient } from '../synthetic.js';
import type { LoadOptions } from './run.js';

const ctx = { requestId: 'bench', access: 'unrestricted' as const };

/** Patients, Encounters and two practitioners, written through the store (the write path). */
export async function seed(store: PostgresStore, options: LoadOptions) {
  const rng = seededRandom(7);
  const patients: string[] = [];
  const batch = 500;
  for (let from = 0; from < options.patients; from += batch) {
    await store.transaction(async (tx) => {
      for (let n = from; n < Math.min(from + batch, options.patients); n++) {
        patients.push((await tx.create(syntheticPatient(rng, n), ctx, patientId(n))).id!);
      }
    });
  }
  const withEncounter: string[] = [];
  for (let from = 0; from < options.encounters; from += batch) {
    await store.transaction(async (tx) => {
      for (let n = from; n < Math.min(from + batch, options.encounters); n++) {
        const patient = patients[encounterPatient(n, options.patients)]!;
        await tx.create(syntheticEncounter(rng, n, patient), ctx);
        withEncounter.push(patient);
      }
    });
  }
  for (const id of ['bench-dr', 'bench-dr-slot']) {
    await store.update(
      { resourceType: 'Practitioner', id, name: [{ family: 'Bench', given: ['Dr'] }] } as Resource,
      ctx,
    );
  }
  await store.update(
    {
      resourceType: 'Schedule',
      id: 'bench-schedule',
      active: true,
      actor: [{ reference: 'Practitioner/bench-dr-slot' }],
    } as Resource,
    ctx,
  );
  await store.update(
    {
      resourceType: 'Slot',
      id: 'bench-slot',
      schedule: { reference: 'Schedule/bench-schedule' },
      status: 'free',
      start: '2040-01-01T09:00:00Z',
      end: '2040-01-01T09:30:00Z',
    } as Resource,
    ctx,
  );
  return { patients, withEncounter };
}
