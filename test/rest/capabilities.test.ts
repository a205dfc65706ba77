import { createRequire } from 'node:module';
import t from 'tap';
import { RESOURCE_TYPES } from '../../src/fhir/resource-types.js';
import { US_CORE_SEARCHES, US_CORE_SERVER } from '../../src/rest/us-core-searches.js';
import { fhir, startTestServer } from '../helpers.js';

const US_CORE = 'http://hl7.org/fhir/us/core/StructureDefinition/';
const US_CORE_SERVER_TYPES = [
  'AllergyIntolerance',
  'CarePlan',
  'CareTeam',
  'Condition',
  'Device',
  'DiagnosticReport',
  'DocumentReference',
  'Encounter',
  'Goal',
  'Immunization',
  'Location',
  'Medication',
  'MedicationRequest',
  'Observation',
  'Organization',
  'Patient',
  'Practitioner',
  'PractitionerRole',
  'Procedure',
  'Provenance',
  'QuestionnaireResponse',
  'RelatedPerson',
  'ServiceRequest',
];

const require = createRequire(import.meta.url);
const JSONSchemaValidator = require('@asymmetrik/fhir-json-schema-validator');

t.test('metadata is a valid R4 CapabilityStatement completed from what is wired', async (t) => {
  const { base } = await startTestServer(t);
  const res = await fhir(base, 'GET', 'metadata');
  t.equal(res.status, 200);
  const statement = res.body;
  t.equal(statement.resourceType, 'CapabilityStatement');
  // The official R4 JSON schema predates the 4.0.1 technical correction: its FHIRVersion enum
  // stops at 4.0.0. Check everything else against it, and the version on its own.
  const errors = new JSONSchemaValidator().validate({ ...statement, fhirVersion: '4.0.0' });
  t.same(errors, [], 'valid against the official R4 JSON schema');
  t.equal(statement.fhirVersion, '4.0.1');
  t.same(statement.format, ['json']);
  t.equal(statement.kind, 'instance');
  t.equal(statement.implementation.url, base);
  const pkg = require('../../package.json');
  t.equal(statement.software.version, pkg.version);
  const types = statement.rest[0].resource.map((r: { type: string }) => r.type);
  t.same(
    types.sort(),
    [
      ...RESOURCE_TYPES.keys(),
      'StructureDefinition',
      'OperationDefinition',
      // Served by src/subscriptions/ where writes are matched (not on HealthLake).
      ...(process.env.TEST_STORE === 'healthlake' ? [] : ['Subscription']),
    ].sort(),
    'plus the profiles, operation definitions and Subscriptions served',
  );
});

t.test('metadata lists each type with exactly the interactions its routes serve', async (t) => {
  const { base } = await startTestServer(t);
  const statement = (await fhir(base, 'GET', 'metadata')).body;
  const byType = new Map<string, { interaction: { code: string }[]; updateCreate: boolean }>(
    statement.rest[0].resource.map((r: { type: string }) => [r.type, r]),
  );
  const codes = (type: string) =>
    byType
      .get(type)!
      .interaction.map((i) => i.code)
      .sort();
  t.same(codes('Patient'), [
    'create',
    'delete',
    'history-instance',
    'history-type',
    'read',
    'search-type',
    'update',
    'vread',
  ]);
  t.same(codes('AuditEvent'), ['history-instance', 'history-type', 'read', 'search-type', 'vread']);
  t.equal(byType.get('AuditEvent')!.updateCreate, false);
  // What the statement promises must be true: AuditEvent create really is refused.
  t.equal((await fhir(base, 'POST', 'AuditEvent', { resourceType: 'AuditEvent' })).status, 405);
  t.equal((await fhir(base, 'POST', 'Patient', { resourceType: 'Patient' })).status, 201);
});

t.test('metadata needs no body and answers JSON by default', async (t) => {
  const { base } = await startTestServer(t);
  const res = await fetch(`${base}/metadata`);
  t.equal(res.status, 200);
  t.match(res.headers.get('content-type'), /^application\/fhir\+json/);
});

t.test('metadata instantiates US Core server and states its searches truthfully', async (t) => {
  const { base } = await startTestServer(t);
  const statement = (await fhir(base, 'GET', 'metadata')).body;
  t.same(statement.instantiates, [
    US_CORE_SERVER,
    'http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data',
  ]);
  type Entry = {
    type: string;
    extension?: {
      url: string;
      extension: { url: string; valueCode?: string; valueString?: string }[];
    }[];
    searchParam: { name: string; extension?: { valueCode: string }[] }[];
    searchInclude: string[];
    searchRevInclude: string[];
    supportedProfile: string[];
  };
  const byType = new Map<string, Entry>(statement.rest[0].resource.map((r: Entry) => [r.type, r]));
  // US Core 5.0.1's server statement lists these types; every one is served.
  for (const type of US_CORE_SERVER_TYPES) t.ok(byType.has(type), `${type} is served`);
  for (const [type, searches] of Object.entries(US_CORE_SEARCHES)) {
    const entry = byType.get(type)!;
    const combos = (entry.extension ?? [])
      .filter((e) => e.url.endsWith('capabilitystatement-search-parameter-combination'))
      .map((e) => ({
        params: e.extension.filter((x) => x.url === 'required').map((x) => x.valueString),
        expectation: e.extension.find((x) => x.url.endsWith('expectation'))?.valueCode,
      }));
    for (const { params, expectation } of searches) {
      if (params.length === 1) {
        const param = entry.searchParam.find((p) => p.name === params[0]);
        t.equal(param?.extension?.[0]?.valueCode, expectation, `${type}?${params[0]}`);
      } else {
        t.ok(
          combos.some(
            (c) => c.expectation === expectation && c.params.join('&') === params.join('&'),
          ),
          `${expectation} ${type}?${params.join('&')}`,
        );
      }
    }
    t.ok(entry.searchRevInclude.includes('Provenance:target'), `${type}: Provenance:target`);
  }
  t.ok(byType.get('MedicationRequest')!.searchInclude.includes('MedicationRequest:medication'));
  for (const include of ['PractitionerRole:endpoint', 'PractitionerRole:practitioner']) {
    t.ok(byType.get('PractitionerRole')!.searchInclude.includes(include), include);
  }
  const observation = byType.get('Observation')!.supportedProfile;
  for (const id of ['us-core-vital-signs', 'us-core-bmi', 'us-core-smokingstatus']) {
    t.ok(observation.includes(`${US_CORE}${id}`), `Observation supports ${id}`);
  }
  for (const entry of byType.values()) {
    for (const url of entry.supportedProfile ?? []) {
      const res = await fhir(base, 'GET', `StructureDefinition?url=${encodeURIComponent(url)}`);
      t.equal(res.body.entry?.length, 1, `${url} is served`);
    }
  }
});
