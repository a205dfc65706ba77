/**
 * `_deidentify` on $export (a telefhir parameter): who may ask for it, and the Deidentifier a
 * method name stands for. The implementations come from app wiring as a record of factories
 * (name → key → Deidentifier), so a method not wired here answers 400 "not available".
 *
 * Who may ask: an ADMIN, or a backend service (a token without a role) carrying the scope
 * `telefhir/export.deidentified`.
 *
 * - The scope ON ITS OWN (no system/ read scopes) is a de-identified-only caller. Its REST policy
 *   grants nothing (no read scopes: every read, search and $everything is 403). It may start
 *   de-identified exports (`_deidentify` required, else 403), poll and download those jobs, and
 *   nothing else. Its job reads under a server policy over the exported types (every served
 *   clinical type but AuditEvent and Binary, or `_type`), always de-identified: the job row's
 *   grant facts name those types as system/ read scopes, and only the worker and this caller's
 *   own download of a de-identified job ever use them.
 * - With system/ read scopes as well, it is an ordinary backend service that may also ask for
 *   de-identified exports of what its scopes allow (and identified ones, as without the scope).
 *
 * A de-identified export can't be aimed at a person (aimedAtNobody): no `patient` list, no
 * Group-level kick-off, and `_typeFilter` only on codes and statuses (a short allow-list);
 * otherwise a filter on a name or birth date and the status's count would answer "does this
 * person exist".
 *
 * The pseudonym key: HKDF-SHA256 of a random secret shared by every replica (the store's
 * `export-pseudonyms` shared secret, kept in Postgres) with the job id as salt. Pseudonyms are
 * stable within one export (references still meet their targets), differ between exports (two
 * exports can't be joined on them), and a worker resuming after a crash derives the same key
 * from the job id. Nothing secret is stored in the job row or logged.
 */
import { hkdfSync } from 'node:crypto';
import type { Principal } from '../auth/claims.js';
import { FhirError } from '../fhir/errors.js';
import type { Deidentifier } from './deidentifier.js';

export const DEIDENTIFIED_SCOPE = 'telefhir/export.deidentified';
export const PSEUDONYM_SECRET = 'export-pseudonyms';

/** The wired methods: `{ 'safe-harbor': safeHarbor }` once safe-harbor.ts is merged. */
export type Deidentifiers = Readonly<Record<string, (key: Buffer) => Deidentifier>>;

const forbidden = (why: string) =>
  new FhirError(403, 'forbidden', why, undefined, {
    'www-authenticate': 'Bearer realm="telefhir", error="insufficient_scope"',
  });

/** The scope without a role and without any resource scope: de-identified exports only. */
export const deidentifiedOnly = (principal: Principal) =>
  principal.scopes.other.includes(DEIDENTIFIED_SCOPE) &&
  principal.roles.length === 0 &&
  principal.scopes.resources.length === 0;

/** A de-identified-only caller's job: system/ read of exactly the exported types. */
export const serverReadScopes = (types: readonly string[]) =>
  types.map((type) => `system/${type}.rs`).join(' ');

/**
 * The `_typeFilter` search parameters a de-identified export may use: codes and statuses
 * (token parameters), never an identifier, a telecom, a name, a date, a reference, a chain or
 * `_has`. `:missing` and `:not` are the only modifiers (`:text` and the like search text).
 */
const DEIDENTIFIED_FILTERS = new Set([
  'code',
  'category',
  'status',
  'clinical-status',
  'verification-status',
  'class',
  'type',
  'intent',
  'gender',
]);
const DEIDENTIFIED_MODIFIERS = new Set(['missing', 'not']);

const aimed = (why: string) =>
  new FhirError(400, 'not-supported', `A de-identified export can't be aimed at a person: ${why}`);

/** Refuses what would select people by identifying data in a de-identified export (400). */
export function aimedAtNobody(
  level: 'system' | 'patient' | 'group',
  patients: boolean,
  typeFilters: readonly string[],
): void {
  if (level === 'group')
    throw aimed('no Group-level export (export at the system or Patient level)');
  if (patients) throw aimed('no patient parameter');
  for (const filter of typeFilters) {
    const at = filter.indexOf('?');
    for (const name of new URLSearchParams(at < 0 ? '' : filter.slice(at + 1)).keys()) {
      const [param = '', modifier, ...rest] = name.split(':');
      if (
        !DEIDENTIFIED_FILTERS.has(param) ||
        rest.length > 0 ||
        (modifier !== undefined && !DEIDENTIFIED_MODIFIERS.has(modifier))
      ) {
        throw aimed(
          `_typeFilter may use only ${[...DEIDENTIFIED_FILTERS].join(', ')} (optionally :missing or :not), not ${name.slice(0, 64)}`,
        );
      }
    }
  }
}

/**
 * The method asked for, checked: known and wired (else 400), and the caller allowed it (else
 * 403); undefined for an identified export, which a de-identified-only caller may not ask for.
 */
export function authorizeDeidentify(
  principal: Principal,
  method: string | undefined,
  wired: Deidentifiers,
): string | undefined {
  if (method === undefined) {
    if (deidentifiedOnly(principal)) {
      throw forbidden(`This token may only export de-identified data: add _deidentify=safe-harbor`);
    }
    return undefined;
  }
  if (!Object.hasOwn(wired, method)) {
    throw new FhirError(
      400,
      'not-supported',
      `_deidentify=${method} is not available on this server`,
    );
  }
  const admin = principal.roles.includes('ADMIN');
  const service =
    principal.roles.length === 0 && principal.scopes.other.includes(DEIDENTIFIED_SCOPE);
  if (!admin && !service) {
    throw forbidden(
      `A de-identified export needs the ADMIN role, or a backend service with the ${DEIDENTIFIED_SCOPE} scope`,
    );
  }
  return method;
}

/** The job's pseudonym key: the same for every worker that works the job, unique to it. */
export function pseudonymKey(secret: Buffer, jobId: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, jobId, 'telefhir $export pseudonyms', 32));
}

/** The Deidentifier of a job, or undefined for an identified export. */
export function deidentifierFor(
  method: string | null,
  wired: Deidentifiers,
  key: () => Promise<Buffer>,
): Promise<Deidentifier | undefined> {
  if (method === null) return Promise.resolve(undefined);
  const make = Object.hasOwn(wired, method) ? wired[method] : undefined;
  if (!make) {
    return Promise.reject(
      new FhirError(500, 'not-supported', `the de-identification method of this job is not wired`),
    );
  }
  return key().then(make);
}
