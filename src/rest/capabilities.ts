import { oauthEndpoints } from '../oauth/issuer.js';
import { builtInIssuer } from '../oauth/oauth.js';
import { readFileSync } from 'node:fs';
import type {
  CapabilityStatement,
  CapabilityStatementRest,
  CapabilityStatementRestResource,
  Extension,
} from 'fhir/r4.js';
import type { FastifyInstance } from 'fastify';
import type { AuthConfig } from '../config.js';
import { RESOURCE_TYPES } from '../fhir/resource-types.js';
import { searchParamsFor } from '../search/registry.js';
import { AUDIT_EVENT_SEARCH_PARAMS } from '../search/audit-event-params.js';
import type { ProfileRegistry } from '../validation/profiles.js';
import { US_CORE_SEARCHES, US_CORE_SERVER } from './us-core-searches.js';
import { VALIDATE_OPERATION } from './validate.js';
import { operationsFor, systemOperations } from '../operations/index.js';
import { SUBSCRIPTION_CAPABILITY } from '../subscriptions/index.js';
import { fromRoot } from '../paths.js';

function readJson<T>(file: string): T {
  return JSON.parse(readFileSync(fromRoot(file), 'utf8')) as T;
}

const BULK_DATA_SERVER = 'http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data';
const EXPECTATION = 'http://hl7.org/fhir/StructureDefinition/capabilitystatement-expectation';
const COMBINATION =
  'http://hl7.org/fhir/StructureDefinition/capabilitystatement-search-parameter-combination';

/**
 * US Core's searches for `type` that this server can answer (every parameter indexed): the
 * expectation of each single parameter, and its combinations as US Core writes them (the
 * search-parameter-combination extension, with the expectation US Core gives it).
 */
function usCoreSearches(type: string) {
  const answerable = (US_CORE_SEARCHES[type] ?? []).filter(({ params }) =>
    params.every((code) => searchParamsFor(type).has(code)),
  );
  const single = new Map<string, string>();
  const combinations: Extension[] = [];
  for (const { params, expectation } of answerable) {
    if (params.length === 1) {
      single.set(params[0]!, expectation);
      continue;
    }
    combinations.push({
      url: COMBINATION,
      extension: [
        { url: EXPECTATION, valueCode: expectation },
        ...params.map((code) => ({ url: 'required', valueString: code })),
      ],
    });
  }
  return { single, combinations };
}

/**
 * The parameters a type is searched by. AuditEvent is answered from its own table, by the
 * parameters it has columns for (search/audit-event-params.ts).
 */
const searchedBy = (type: string) => {
  const params = [...searchParamsFor(type).values()];
  if (type !== 'AuditEvent') return params;
  const answered = new Set<string>(AUDIT_EVENT_SEARCH_PARAMS);
  return params.filter((param) => answered.has(param.code));
};

const referenceParams = (type: string) =>
  searchedBy(type).filter((param) => param.type === 'reference');

function resourceCapability(
  type: string,
  profiles: ProfileRegistry,
  baseUrl: string,
): CapabilityStatementRestResource {
  const interactions = RESOURCE_TYPES.get(type) ?? [];
  const writes = interactions.includes('update');
  const params = searchedBy(type).sort((a, b) => a.code.localeCompare(b.code));
  const revIncludes = [...RESOURCE_TYPES.keys()].flatMap((source) =>
    referenceParams(source)
      .filter((param) => param.targets.length === 0 || param.targets.includes(type))
      .map((param) => `${source}:${param.code}`),
  );
  const usCore = usCoreSearches(type);
  return {
    ...(usCore.combinations.length ? { extension: usCore.combinations } : {}),
    type,
    profile: `http://hl7.org/fhir/StructureDefinition/${type}`,
    interaction: interactions.map((code) => ({ code })),
    versioning: 'versioned',
    readHistory: true,
    updateCreate: writes,
    conditionalCreate: interactions.includes('create'),
    conditionalRead: 'not-match',
    conditionalUpdate: writes,
    conditionalDelete: writes ? 'single' : 'not-supported',
    searchInclude: ['*', ...referenceParams(type).map((param) => `${type}:${param.code}`)],
    searchRevInclude: revIncludes.sort(),
    supportedProfile: profiles
      .all()
      .filter((sd) => sd.type === type && sd.kind === 'resource')
      .map((sd) => sd.url),
    operation: [VALIDATE_OPERATION, ...operationsFor(type, baseUrl)],
    searchParam: params.map((param) => ({
      ...(usCore.single.has(param.code)
        ? { extension: [{ url: EXPECTATION, valueCode: usCore.single.get(param.code) }] }
        : {}),
      name: param.code,
      definition: param.url,
      type: param.type,
      documentation: param.description,
    })),
  };
}

/**
 * The static statement in capability-statement.json, completed from what this server wires:
 * its version, its base URL and, from the resource-type table the routes use, every type and
 * interaction.
 */
/**
 * The oauth-uris the smart-configuration advertises too: the built-in server's endpoints, or
 * the configured authorization server's.
 */
function oauthUris(auth: AuthConfig, baseUrl: string) {
  if (!builtInIssuer({ auth })) {
    return [
      { url: 'authorize', valueUri: auth.authorizationEndpoint },
      { url: 'token', valueUri: auth.tokenEndpoint },
    ];
  }
  const endpoints = oauthEndpoints(baseUrl);
  return [
    { url: 'authorize', valueUri: endpoints.authorization_endpoint },
    { url: 'token', valueUri: endpoints.token_endpoint },
    { url: 'register', valueUri: endpoints.registration_endpoint },
    { url: 'revoke', valueUri: endpoints.revocation_endpoint },
    { url: 'introspect', valueUri: endpoints.introspection_endpoint },
  ];
}

/** SMART on FHIR security, with the same OAuth URLs the smart-configuration advertises. */
function security(auth: AuthConfig, baseUrl: string): CapabilityStatementRest['security'] {
  return {
    cors: true,
    service: [
      {
        coding: [
          {
            system: 'http://terminology.hl7.org/CodeSystem/restful-security-service',
            code: 'SMART-on-FHIR',
          },
        ],
        text: 'OAuth2 bearer tokens (SMART App Launch 2, scopes v1 and v2)',
      },
    ],
    extension: [
      {
        url: 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris',
        extension: oauthUris(auth, baseUrl),
      },
    ],
  };
}

export function buildCapabilityStatement(
  baseUrl: string,
  profiles: ProfileRegistry,
  auth: AuthConfig,
  subscriptions = false,
): CapabilityStatement {
  const statement = readJson<CapabilityStatement>('capability-statement.json');
  const pkg = readJson<{ version: string }>('package.json');
  const [rest = { mode: 'server' }] = statement.rest ?? [];
  const completedRest: CapabilityStatementRest = {
    ...rest,
    security: security(auth, baseUrl),
    resource: [
      ...[...RESOURCE_TYPES.keys()]
        .sort()
        .map((type) => resourceCapability(type, profiles, baseUrl)),
      // Served by subscriptions/ when writes are matched (not on HealthLake).
      ...(subscriptions ? [SUBSCRIPTION_CAPABILITY] : []),
      // Served by structure-definitions.ts: the profiles this server enforces.
      // Served by operations/index.ts: the definitions of the telehealth operations.
      { type: 'OperationDefinition', interaction: [{ code: 'read' }] },
      {
        type: 'StructureDefinition',
        interaction: [{ code: 'read' }, { code: 'search-type' }],
        searchParam: [{ name: 'url', type: 'uri' }],
      },
    ],
    interaction: [{ code: 'transaction' }, { code: 'batch' }, { code: 'history-system' }],
    operation: systemOperations(baseUrl),
  };
  return {
    ...statement,
    // Every type, profile and search of US Core's server statement is wired (test/rest/
    // capabilities.test.ts checks each against what is served).
    // Bulk Data $export at every level (src/export/).
    instantiates: [US_CORE_SERVER, BULK_DATA_SERVER],
    software: { name: 'telefhir', ...statement.software, version: pkg.version },
    implementation: { description: 'telefhir', ...statement.implementation, url: baseUrl },
    rest: [completedRest],
  };
}

export async function capabilityRoutes(app: FastifyInstance) {
  // Immutable once built, so it is built and serialised on the first ask and then sent as that
  // text (the content type is already set by content negotiation): it is ~100 kB of JSON.
  let statement: string | undefined;
  app.get('/metadata', { config: { public: true } }, async () => {
    statement ??= JSON.stringify(
      buildCapabilityStatement(
        app.config.baseUrl,
        app.profiles,
        app.config.auth,
        app.subscriptionsServed,
      ),
    );
    return statement;
  });
}
