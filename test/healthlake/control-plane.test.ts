/**
 * The control plane: DescribeFHIRDatastore (signed, against the emulator through the SDK's
 * standard endpoint setting) gates start-up and /readyz, and `npm run healthlake:status`.
 */
import t from 'tap';
import { buildApp } from '../../src/app.js';
import { healthLakeStatus } from '../../src/cli/healthlake-status.js';
import { startServer, testConfig } from '../helpers.js';
import { backWithHealthLake, TEST_AWS } from './harness.js';

t.test('/readyz is ready only while the data store is ACTIVE', async (t) => {
  const config = await testConfig(t);
  const { emulator } = await backWithHealthLake(t, config);
  const { base } = await startServer(t, config);
  const readyz = () => fetch(new URL('/readyz', base));
  t.equal((await readyz()).status, 200);
  emulator.setStatus('DELETING');
  // The control plane's answer is reused for a few seconds; wait it out.
  await new Promise((resolve) => setTimeout(resolve, 5200));
  const res = await readyz();
  t.equal(res.status, 503);
  t.equal(((await res.json()) as { resourceType: string }).resourceType, 'OperationOutcome');
  emulator.setStatus('ACTIVE');
  await new Promise((resolve) => setTimeout(resolve, 5200));
  t.equal((await readyz()).status, 200);
});

t.test('start-up refuses a data store that is not ACTIVE, or credentials it rejects', async (t) => {
  const config = await testConfig(t);
  const { emulator } = await backWithHealthLake(t, config);
  emulator.setStatus('CREATING');
  await t.rejects(buildApp(config), /CREATING, not ACTIVE/);
  emulator.setStatus('ACTIVE');
  process.env.AWS_SECRET_ACCESS_KEY = 'wrong';
  t.teardown(() => {
    process.env.AWS_SECRET_ACCESS_KEY = TEST_AWS.credentials.secretAccessKey;
  });
  await t.rejects(buildApp(config), /signature/i);
  t.ok(emulator.rejections.length > 0, 'the emulator checked the signature and refused it');
});

t.test('healthlake:status prints the data store and exits by its state', async (t) => {
  const config = await testConfig(t);
  const { emulator } = await backWithHealthLake(t, config);
  const env = {
    ...process.env,
    HEALTHLAKE_ENDPOINT: emulator.endpoint,
    AWS_REGION: TEST_AWS.region,
  };
  const lines: string[] = [];
  t.equal(await healthLakeStatus(env, (line) => lines.push(line)), 0);
  const printed = JSON.parse(lines[0]!) as Record<string, string>;
  t.equal(printed.id, emulator.datastoreId);
  t.equal(printed.status, 'ACTIVE');
  t.equal(printed.endpoint, emulator.endpoint);
  emulator.setStatus('DELETING');
  t.equal(await healthLakeStatus(env, (line) => lines.push(line)), 1);
  t.match(lines[1], /"status":"DELETING"/);
});
