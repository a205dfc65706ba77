/**
 * A telehealth population, as resources in the order they can be written (what one refers to
 * comes first): pure, so the same options always give the same resources. `npm run seed`
 * writes them; the unit test checks them. It makes every type US Core describes, served yet or
 * not: the CLI writes those the server serves (RESOURCE_TYPES at run time).
 */
import type { Resource } from 'fhir/r4.js';
import { careTeam, intake, plan } from './care.js';
import { diagnosis, history } from './clinical.js';
import { Seeding, type SeedOptions } from './context.js';
import { directory } from './directory.js';
import { cohort, provenance, visitNote } from './documents.js';
import { formulary, prescription, reported } from './medications.js';
import { findings } from './observations.js';
import { patient } from './patients.js';
import { visits } from './visits.js';

export type { SeedOptions } from './context.js';

export function generatePopulation(options: SeedOptions): Resource[] {
  const s = new Seeding(options);
  const dir = directory(s);
  const medications = formulary(s);
  const people = [];
  for (let n = 0; n < options.patients; n++) {
    const who = patient(s, n, dir.clinicians[n % dir.clinicians.length]!);
    people.push(who);
    const past = visits(s, who, n);
    const team = careTeam(s, who, n);
    history(s, who, n, past[0]);
    intake(s, who, n, past[0]);
    reported(s, who, n);
    past.forEach((visit, v) => {
      const key = `${n}-${v}`;
      findings(s, who, visit, key, v === 0, dir);
      diagnosis(s, who, visit, key);
      const prescribed = prescription(s, who, visit, key, medications);
      const note = visitNote(s, who, visit, key);
      plan(s, who, visit, key, team);
      provenance(s, who, key, [prescribed, note], visit.end);
    });
  }
  cohort(s, people);
  return s.resources;
}
