/**
 * What every family of the generator shares: the PRNG, the anchor date the population is
 * placed around, deterministic ids, and the resources made so far in write order (what a
 * resource refers to is always written before it).
 */
import type { Resource } from 'fhir/r4.js';
import { Random } from './random.js';

export const US_CORE = 'http://hl7.org/fhir/us/core/StructureDefinition/';
export const LOINC = 'http://loinc.org';
export const SNOMED = 'http://snomed.info/sct';
export const UCUM = 'http://unitsofmeasure.org';
export const RXNORM = 'http://www.nlm.nih.gov/research/umls/rxnorm';
export const CVX = 'http://hl7.org/fhir/sid/cvx';
export const NPI = 'http://hl7.org/fhir/sid/us-npi';
export const MRN = 'urn:oid:2.16.840.1.113883.3.7418.1';
export const OBSERVATION_CATEGORY = 'http://terminology.hl7.org/CodeSystem/observation-category';

export interface SeedOptions {
  /** Any text; the same text gives the same population. */
  seed: string;
  patients: number;
  /** The day the population is placed around: past visits before it, appointments after. */
  anchor: Date;
}

export type Json = Record<string, unknown>;

export const ref = (resource: Resource | string, display?: string) => ({
  reference: typeof resource === 'string' ? resource : `${resource.resourceType}/${resource.id}`,
  ...(display ? { display } : {}),
});

export const coding = (system: string, code: string, display?: string) => ({
  system,
  code,
  ...(display ? { display } : {}),
});

export const concept = (system: string, code: string, display: string) => ({
  coding: [coding(system, code, display)],
  text: display,
});

export const quantity = (value: number, unit: string, code = unit) => ({
  value,
  unit,
  system: UCUM,
  code,
});

export class Seeding {
  readonly random: Random;
  readonly resources: Resource[] = [];
  /** Ids start with this, derived from the seed: two seeds never write over each other. */
  readonly prefix: string;
  private readonly anchorMs: number;
  private slotIndex = 0;

  constructor(readonly options: SeedOptions) {
    this.random = new Random(options.seed);
    this.prefix = `seed-${new Random(`id:${options.seed}`).int(36 ** 6).toString(36)}`;
    const day = new Date(options.anchor);
    day.setUTCHours(0, 0, 0, 0);
    this.anchorMs = day.getTime();
  }

  id(kind: string, ...parts: (string | number)[]): string {
    return [this.prefix, kind, ...parts].join('-');
  }

  add<T extends Resource>(resource: T): T {
    this.resources.push(resource);
    return resource;
  }

  /** An instant `days` from the anchor day at hour:minute UTC. */
  at(days: number, hour = 9, minute = 0): string {
    return new Date(this.anchorMs + ((days * 24 + hour) * 60 + minute) * 60_000).toISOString();
  }

  /** The date part of `at`. */
  date(days: number): string {
    return this.at(days).slice(0, 10);
  }

  /**
   * A half-hour nobody else in this population has: appointments never overlap, so the
   * appointment ledger (no double booking) accepts all of them. Past or future of the anchor.
   */
  nextHalfHour(future: boolean): { start: string; end: string } {
    const n = this.slotIndex++;
    const day = Math.floor(n / 16) + 1;
    const minutes = 14 * 60 + (n % 16) * 30; // 14:00-22:00 UTC: working hours across the US
    const days = future ? day : -day;
    const start = this.at(days, 0, minutes);
    return { start, end: this.at(days, 0, minutes + 30) };
  }
}
