/**
 * A $export kick-off request, checked and turned into a job: `Prefer: respond-async`, the
 * parameters against the OperationDefinition, `_outputFormat`, `_since`, `_type` and
 * `_typeFilter` (each type known, exportable here and searchable by the caller), the
 * `patient` list or the Group's members, and `_deidentify` (deidentify.ts). Every refusal is a
 * FhirError (400, 403, 404, 501), before any job exists.
 */
import type {
  Group,
  GroupMember,
  OperationDefinition,
  Parameters,
  ParametersParameter,
} from 'fhir/r4.js';
import { isInPatientCompartment } from '../auth/compartment.js';
import type { Principal, TokenClaims } from '../auth/claims.js';
import { buildPolicy, type AccessPolicy, type PolicyOptions } from '../auth/policy.js';
import { principalFrom } from '../auth/claims.js';
import { FhirError } from '../fhir/errors.js';
import { readParameters } from '../fhir/operation-parameters.js';
import { parseInstant, rejectControlCharacters } from '../fhir/params.js';
import { ID_PATTERN, RESOURCE_TYPES } from '../fhir/resource-types.js';
import type { FhirStore, RequestContext } from '../store/store.js';
import {
  aimedAtNobody,
  authorizeDeidentify,
  deidentifiedOnly,
  serverReadScopes,
  type Deidentifiers,
} from './deidentify.js';
import type { ExportLevel, GrantFacts, NewJob } from './jobs.js';
import type { JobOwner } from './owner.js';
import { checkTypeFilter } from './reader.js';

const OUTPUT_FORMATS = new Set(['application/fhir+ndjson', 'application/ndjson', 'ndjson']);
/** Not exported: the server's own record of access, and document bytes (served by Binary). */
const NOT_EXPORTED = new Set(['AuditEvent', 'Binary']);

export interface KickoffRequest {
  level: ExportLevel;
  groupId?: string;
  /** The parameters, from the URL (GET) or the Parameters body (POST). */
  parameters: Parameters;
  prefer: string | undefined;
  requestUrl: string;
  principal: Principal;
  /** Who will own the job (owner.ts): its issuer and fingerprint go into the grant facts. */
  owner: JobOwner;
  policy: AccessPolicy;
  policyOptions: PolicyOptions;
  ctx: RequestContext;
  store: FhirStore;
  baseUrl: string;
  deidentifiers: Deidentifiers;
}

/** GET's query string as Parameters: `_type` may be a comma list; `_typeFilter` never is. */
export function parametersFromUrl(query: URLSearchParams): Parameters {
  rejectControlCharacters(query);
  const parameter: ParametersParameter[] = [];
  for (const [name, value] of query) {
    if (name === '_format' || name === '_pretty') continue;
    if (name === '_type') {
      for (const one of value.split(',')) parameter.push({ name, valueString: one });
    } else if (name === '_since') parameter.push({ name, valueInstant: value });
    else if (name === '_deidentify') parameter.push({ name, valueCode: value });
    else if (name === 'patient') {
      throw new FhirError(400, 'invalid', 'patient is a POST parameter (a Parameters body)');
    }
    // A `+` in an unencoded URL arrives as a space: application/fhir+ndjson is what was meant.
    else if (name === '_outputFormat')
      parameter.push({ name, valueString: value.replace(/ /g, '+') });
    else parameter.push({ name, valueString: value });
  }
  return { resourceType: 'Parameters', parameter };
}

const text = (p: ParametersParameter): string | undefined =>
  p.valueString ?? p.valueCode ?? p.valueInstant ?? p.valueDateTime ?? p.valueUri;

function strings(params: Map<string, ParametersParameter[]>, name: string): string[] {
  return (params.get(name) ?? []).map((p) => {
    const value = text(p);
    if (typeof value !== 'string' || !value.trim()) {
      throw new FhirError(400, 'invalid', `Parameter "${name}" needs a value`);
    }
    return value.trim();
  });
}

const forbidden = (why: string) =>
  new FhirError(403, 'forbidden', why, undefined, {
    'www-authenticate': 'Bearer realm="telefhir", error="insufficient_scope"',
  });

/** The types exported at this level, each one the caller may search; `_type` beyond it → 403. */
function exportTypes(level: ExportLevel, requested: string[], policy: AccessPolicy): string[] {
  const exportable = (type: string) =>
    !NOT_EXPORTED.has(type) && (level === 'system' || isInPatientCompartment(type));
  for (const type of requested) {
    if (!RESOURCE_TYPES.has(type)) {
      throw new FhirError(400, 'not-supported', `_type names a type not served: ${type}`);
    }
    if (!exportable(type)) {
      throw new FhirError(400, 'not-supported', `${type} is not exported at this level`);
    }
    if (!policy.grant(type, 'search')) {
      throw forbidden(`The token's scopes and role do not allow exporting ${type}`);
    }
  }
  const types = requested.length
    ? [...new Set(requested)]
    : [...RESOURCE_TYPES.keys()].filter((type) => exportable(type) && policy.grant(type, 'search'));
  if (!types.length) throw forbidden("The token's scopes and role allow exporting no type");
  return types.sort();
}

function typeFilters(filters: string[], types: string[], baseUrl: string) {
  const byType: Record<string, string> = {};
  for (const filter of filters) {
    const at = filter.indexOf('?');
    const type = at < 0 ? filter : filter.slice(0, at);
    if (at < 0 || !types.includes(type)) {
      throw new FhirError(400, 'invalid', `_typeFilter must be Type?query for an exported type`);
    }
    if (Object.hasOwn(byType, type)) {
      throw new FhirError(400, 'not-supported', `At most one _typeFilter per type (${type})`);
    }
    const query = filter.slice(at + 1);
    checkTypeFilter(type, query, baseUrl);
    byType[type] = query;
  }
  return byType;
}

function patientIds(references: ParametersParameter[]): string[] {
  return references.map((p) => {
    const match = /^Patient\/([^/]+)$/.exec(p.valueReference?.reference ?? '');
    if (!match || !ID_PATTERN.test(match[1]!)) {
      throw new FhirError(400, 'invalid', 'patient must be a reference to Patient/{id}');
    }
    return match[1]!;
  });
}

/**
 * The bounds of a FHIR dateTime as ms, [earliest, latest]: '2024-05' runs the whole month. A
 * value that is not a dateTime gives undefined (the member is then left out).
 */
function dateTimeBounds(value: string): [number, number] | undefined {
  const match =
    /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/.exec(
      value,
    );
  if (!match) return undefined;
  const [, y, m, d, hh] = match;
  if (hh !== undefined) {
    const at = Date.parse(value);
    return Number.isNaN(at) ? undefined : [at, at];
  }
  const year = Number(y);
  const start = Date.UTC(year, m ? Number(m) - 1 : 0, d ? Number(d) : 1);
  const end = d
    ? Date.UTC(year, Number(m) - 1, Number(d) + 1)
    : m
      ? Date.UTC(year, Number(m), 1)
      : Date.UTC(year + 1, 0, 1);
  // A date without a zone could be any zone's: widen by a day either side.
  return [start - 86_400_000, end + 86_400_000 - 1];
}

/**
 * A member counts when active at `at` (the export's transaction time): not `inactive`, and its
 * period, if any, surely under way and surely not ended then. A partial date that straddles
 * `at` counts against membership: a doubtful member is left out, never exported.
 */
function activeAt(member: GroupMember, at: number): boolean {
  if (member.inactive === true) return false;
  const { start, end } = member.period ?? {};
  if (start !== undefined) {
    const bounds = dateTimeBounds(start);
    if (!bounds || bounds[1] > at) return false;
  }
  if (end !== undefined) {
    const bounds = dateTimeBounds(end);
    if (!bounds || bounds[0] < at) return false;
  }
  return true;
}

/**
 * The Group's Patient members active at `at`; reading the Group is held to the caller's grant
 * (404/403).
 */
async function groupMembers(request: KickoffRequest, id: string, at: number): Promise<string[]> {
  if (!ID_PATTERN.test(id)) throw new FhirError(400, 'invalid', 'Invalid Group id');
  const group = (await request.store.read('Group', id, request.ctx)) as Group;
  return (group.member ?? []).flatMap((member) => {
    const match = /^Patient\/([^/]+)$/.exec(member.entity?.reference ?? '');
    return match && activeAt(member, at) && ID_PATTERN.test(match[1]!) ? [match[1]!] : [];
  });
}

/** What the job row keeps to rebuild this caller's policy: the claims the policy reads. */
export function grantFactsOf(principal: Principal): GrantFacts {
  const scopes = [
    ...principal.scopes.resources.map((scope) => scope.raw),
    ...principal.scopes.other,
  ];
  return {
    sub: principal.subject,
    ...(principal.clientId ? { client_id: principal.clientId } : {}),
    scope: scopes.join(' '),
    // No role claim at all for a backend service: an empty one would mean "a user of unknown
    // role", whose system/ scopes grant nothing (claims.ts).
    ...(principal.roles.length ? { role: [...principal.roles] } : {}),
    ...(principal.patient ? { patient: principal.patient } : {}),
    ...(principal.fhirUser
      ? { fhirUser: `${principal.fhirUser.type}/${principal.fhirUser.id}` }
      : {}),
  } satisfies GrantFacts & TokenClaims;
}

export async function kickoff(
  request: KickoffRequest,
  definition: OperationDefinition,
  id: string,
  retentionHours: number,
): Promise<NewJob> {
  if (!/(^|[\s,;])respond-async($|[\s,;])/.test(request.prefer ?? '')) {
    throw new FhirError(400, 'invalid', '$export is asynchronous: send Prefer: respond-async');
  }
  const params = readParameters(definition, request.parameters);
  const [format] = strings(params, '_outputFormat');
  if (format !== undefined && !OUTPUT_FORMATS.has(format)) {
    throw new FhirError(400, 'not-supported', `_outputFormat ${format} is not supported: ndjson`);
  }
  const [sinceRaw] = strings(params, '_since');
  const since = sinceRaw === undefined ? undefined : parseInstant('_since', sinceRaw);
  const [method] = strings(params, '_deidentify');
  const deidentify = authorizeDeidentify(request.principal, method, request.deidentifiers);
  const filterList = strings(params, '_typeFilter');
  if (deidentify) aimedAtNobody(request.level, !!params.get('patient')?.length, filterList);
  // A de-identified-only caller's export reads under a server policy (deidentify.ts).
  const serviceOnly = deidentifiedOnly(request.principal);
  const policy = serviceOnly
    ? buildPolicy(
        principalFrom({ sub: request.principal.subject, scope: 'system/*.rs' }),
        request.policyOptions,
      )
    : request.policy;
  const requested = strings(params, '_type').flatMap((value) => value.split(','));
  const types = exportTypes(
    request.level,
    requested.map((t) => t.trim()),
    policy,
  );
  const filters = typeFilters(filterList, types, request.baseUrl);

  // The export's transaction time: Group membership is judged at it, and the job keeps it.
  const transactionTime = new Date();
  let patients: string[] | undefined;
  const listed = params.get('patient');
  if (listed?.length) patients = patientIds(listed);
  if (request.level === 'group') {
    const members = await groupMembers(request, request.groupId!, transactionTime.getTime());
    patients = patients ? members.filter((member) => patients!.includes(member)) : members;
  }
  if (patients && !request.store.compartment) {
    throw new FhirError(
      501,
      'not-supported',
      'Group exports and exports of listed patients are not available with this store (HealthLake)',
    );
  }
  return {
    id,
    clientId: request.principal.clientId ?? '',
    subject: request.principal.subject,
    grantFacts: {
      ...(serviceOnly
        ? {
            sub: request.principal.subject,
            ...(request.principal.clientId ? { client_id: request.principal.clientId } : {}),
            scope: serverReadScopes(types),
          }
        : grantFactsOf(request.principal)),
      iss: request.owner.issuer,
      fingerprint: request.owner.fingerprint,
    },
    level: request.level,
    ...(request.groupId ? { groupId: request.groupId } : {}),
    ...(patients ? { patients: [...new Set(patients)] } : {}),
    types,
    typeFilters: filters,
    ...(since ? { since } : {}),
    requestUrl: request.requestUrl,
    transactionTime: transactionTime.toISOString(),
    ...(deidentify ? { deidentify } : {}),
    retentionHours,
  };
}
