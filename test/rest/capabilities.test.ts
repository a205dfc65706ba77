import { createRequire } from 'node:module';
import t from 'tap';
import { RESOURCE_TYPES } from '../../src/fhir/resource-types.js';
import { fhir, startTestServer } from '../helpers.js';

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
    [...RESOURCE_TYPES.keys(), 'StructureDefinition', 'OperationDefinition'].sort(),
    'plus the profiles and operation definitions served',
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
