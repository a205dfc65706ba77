/**
 * `_deidentify` on $export (a telefhir parameter): who may ask for it, and the Deidentifier a
 * method name stands for. The implementations come from app wiring as a record of factories
 * (name → key → Deidentifier), so a method not wired here answers 400 "not available".
 *
 * Who may ask: an ADMIN, or a backend service (a token without a role) carrying the scope
 * `telefhir/export.deidentified` besides its system/ read scopes. A token with that scope and
 * no ADMIN role is a de-identified-only caller: an export without `_deidentify` is 403 for it,
 * so it can never receive identified output (its downloads are only of its own jobs, which are
 * all de-identified).
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

const deidentifiedOnly = (principal: Principal) =>
  principal.scopes.other.includes(DEIDENTIFIED_SCOPE) && !principal.roles.includes('ADMIN');

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
