/**
 * `npm run seed`: the CLI writes the generated population through the server's write path to
 * the configured store (the test's own database), audited as telefhir-seed; a re-run with the
 * same seed leaves the same resources, none added.
 */
import t from 'tap';
import { RESOURCE_TYPES } from '../../src/fhir/resource-types.js';
import { generatePopulation } from '../../src/seed/generate.js';
import { fhir, startServer, testConfig } from '../helpers.js';
import { runCli } from './run-cli.js';
import { backWithHealthLake, TEST_AWS } from '../healthlake/harness.js';

const ANCHOR = '2026-01-05';
const ARGS = ['--patients', '2', '--seed', 'cli', '--anchor', ANCHOR];

t.test(
  'seeds the configured store through the write path, and again to the same effect',
  async (t) => {
    const config = await testConfig(t);
    const env = {
      DATA_DIR: config.dataDir,
      ...(config.databaseUrl ? { DATABASE_URL: config.databaseUrl } : {}),
      VALIDATION_DEFAULT_PROFILES: 'us-core',
      LOG_LEVEL: 'silent',
    };
    const first = await runCli('seed', ARGS, env);
    t.equal(first.status, 0, first.stderr);
    t.match(first.stdout, /seed "cli": 2 patients/);
    t.match(first.stderr, /resources written/, 'progress on stderr');

    const expected = generatePopulation({ seed: 'cli', patients: 2, anchor: new Date(ANCHOR) });
    const served = expected.filter((r) => RESOURCE_TYPES.has(r.resourceType));
    const unserved = [...new Set(expected.map((r) => r.resourceType))].filter(
      (type) => !RESOURCE_TYPES.has(type),
    );
    for (const type of unserved) t.match(first.stdout, new RegExp(`skipped:.*${type} \\d`));

    const again = await runCli('seed', ARGS, env);
    t.equal(again.status, 0, again.stderr);

    const { base } = await startServer(t, config);
    const missing: string[] = [];
    for (const resource of served) {
      const res = await fhir(base, 'GET', `${resource.resourceType}/${resource.id}`);
      if (res.status !== 200) missing.push(`${resource.resourceType}/${resource.id} ${res.status}`);
    }
    t.same(missing, [], `every one of the ${served.length} served resources is stored`);
    const count = async (query: string) =>
      (await fhir(base, 'GET', `${query}&_summary=count`)).body.total as number;
    t.equal(await count('Patient?_id:missing=false'), 2, 'a re-run adds no patient');
    const patient = served.find((r) => r.resourceType === 'Patient')!;
    const stored = await fhir(base, 'GET', `Patient/${patient.id}`);
    t.equal(stored.body.meta.versionId, '2', 'the re-run updated it');
    t.equal(
      await count('Observation?_id:missing=false'),
      served.filter((r) => r.resourceType === 'Observation').length,
    );
    // Every write is a PUT (an update, creating the first time), one AuditEvent each, per run.
    const audited = await count('AuditEvent?altid=telefhir-seed&subtype=update');
    t.equal(audited, 2 * served.length, 'each write audited, as the backend service telefhir-seed');
    const event = (await fhir(base, 'GET', 'AuditEvent?altid=telefhir-seed&_count=1')).body
      .entry[0];
    t.same(event.resource.agent[0].who, { identifier: { value: 'telefhir-seed' } });
  },
);

t.test('seeds HealthLake the same way, when FHIR_STORE says so', async (t) => {
  const config = await testConfig(t);
  await backWithHealthLake(t, config);
  const env = {
    DATA_DIR: config.dataDir,
    ...(config.databaseUrl ? { DATABASE_URL: config.databaseUrl } : {}),
    FHIR_STORE: 'healthlake',
    HEALTHLAKE_ENDPOINT: config.healthlake!.endpoint,
    HEALTHLAKE_TIMEOUT_MS: '30000',
    AWS_REGION: TEST_AWS.region,
    LOG_LEVEL: 'silent',
  };
  const args = ['--patients', '1', '--seed', 'lake', '--anchor', ANCHOR];
  const run = await runCli('seed', args, env);
  t.equal(run.status, 0, run.stderr);
  const { base } = await startServer(t, config);
  const expected = generatePopulation({ seed: 'lake', patients: 1, anchor: new Date(ANCHOR) });
  const patient = expected.find((r) => r.resourceType === 'Patient')!;
  const stored = await fhir(base, 'GET', `Patient/${patient.id}`);
  t.equal(stored.status, 200);
  const observations = expected.filter((r) => r.resourceType === 'Observation');
  const found = await fhir(base, 'GET', `Observation?subject=Patient/${patient.id}&_count=500`);
  t.equal(found.body.entry?.length, observations.length, "the patient's Observations");
});

t.test('usage and refusals', async (t) => {
  const help = await runCli('seed', ['--help'], { LOG_LEVEL: 'silent' });
  t.equal(help.status, 0);
  t.match(help.stdout, /--patients N/);
  const none = await runCli('seed', [], { LOG_LEVEL: 'silent' });
  t.equal(none.status, 1);
  t.match(none.stderr, /--patients takes a whole number/);
  const bad = await runCli('seed', ['--patients', '2', '--anchor', 'soon'], {
    LOG_LEVEL: 'silent',
  });
  t.equal(bad.status, 1);
  t.match(bad.stderr, /--anchor takes a date/);
});
