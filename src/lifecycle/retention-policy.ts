/**
 * How long each resource type is kept after its last update (the deletion, for a deleted
 * resource), from the environment:
 *   RETENTION_DEFAULT_DAYS  clinical types (the Patient compartment's, and Binary); 2557 ≈ 7 years
 *   AUDIT_RETENTION_DAYS    AuditEvent; 2557 (the audit purge's own setting)
 *   RETENTION_POLICY        per-type overrides, `Observation=3650,Slot=365,Patient=keep`
 * Directory types (Practitioner, Organization, Schedule, Slot, ...) are kept unless listed:
 * clinical records point at them.
 */
import { isInPatientCompartment } from '../auth/compartment.js';
import { ConfigError } from '../config.js';
import { RESOURCE_TYPES } from '../fhir/resource-types.js';

export const DEFAULT_RETENTION_DAYS = 2557;
const DAY_MS = 24 * 60 * 60 * 1000;

/** Days, or 'keep' (never purged). */
export type Retention = number | 'keep';

export interface RetentionPolicy {
  /** Every served type except AuditEvent. */
  types: Map<string, Retention>;
  audit: Retention;
}

type Env = Record<string, string | undefined>;

function days(name: string, raw: string): Retention {
  if (raw.trim() === 'keep') return 'keep';
  const value = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(value) || value < 1 || value > 36500) {
    throw new ConfigError(
      `${name} must be a whole number of days from 1 to 36500, or keep (got "${raw}")`,
    );
  }
  return value;
}

const isClinical = (type: string) => isInPatientCompartment(type) || type === 'Binary';

export function retentionPolicy(env: Env = process.env): RetentionPolicy {
  const clinical = env.RETENTION_DEFAULT_DAYS
    ? days('RETENTION_DEFAULT_DAYS', env.RETENTION_DEFAULT_DAYS)
    : DEFAULT_RETENTION_DAYS;
  const types = new Map<string, Retention>();
  for (const type of RESOURCE_TYPES.keys()) {
    if (type !== 'AuditEvent') types.set(type, isClinical(type) ? clinical : 'keep');
  }
  let audit: Retention = env.AUDIT_RETENTION_DAYS
    ? days('AUDIT_RETENTION_DAYS', env.AUDIT_RETENTION_DAYS)
    : DEFAULT_RETENTION_DAYS;
  for (const item of (env.RETENTION_POLICY ?? '').split(',')) {
    if (!item.trim()) continue;
    const [type, value, ...extra] = item.split('=').map((part) => part.trim());
    if (!type || value === undefined || extra.length) {
      throw new ConfigError(
        `RETENTION_POLICY entries look like Type=days or Type=keep (got "${item}")`,
      );
    }
    if (type === 'AuditEvent') audit = days(`RETENTION_POLICY ${type}`, value);
    else if (types.has(type)) types.set(type, days(`RETENTION_POLICY ${type}`, value));
    else throw new ConfigError(`RETENTION_POLICY names ${type}, which is not a served type`);
  }
  return { types, audit };
}

/** The instant before which a last update is too old, or undefined for 'keep'. */
export function cutoffOf(retention: Retention, now: Date): Date | undefined {
  return retention === 'keep' ? undefined : new Date(now.getTime() - retention * DAY_MS);
}
