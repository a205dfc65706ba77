/**
 * Runs a test server on FHIR_STORE=healthlake against an in-process HealthLake emulator (its
 * data in telefhir's own Postgres store on a schema of its own). test/helpers.ts calls this when
 * TEST_STORE=healthlake, so the REST suites run unchanged against HealthLake.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig, type Config } from '../../src/config.js';
import { copyTestTemplate } from '../embedded-template.js';
import { startHealthLakeEmulator, type HealthLakeEmulator } from '../emulators/healthlake.js';
import { testConfig, testToken } from '../helpers.js';

type Tap = Parameters<typeof testConfig>[0];

export const TEST_AWS = {
  region: 'us-east-1',
  credentials: {
    accessKeyId: 'AKIDTELEFHIRTEST0001',
    secretAccessKey: 'telefhir/test/secret/key/0123456789abcdef',
  },
};

export const usingHealthLake = () => process.env.TEST_STORE === 'healthlake';

/** The emulators of this process's servers, by their FHIR base URL (for tests that look inside). */
export const emulators = new Map<Config, HealthLakeEmulator>();

/**
 * Starts an emulator and returns `config` switched to it. Credentials and the control-plane
 * endpoint go through the SDK's standard environment variables, as in a deployment.
 */
export async function backWithHealthLake(
  t: Tap,
  config: Config,
  env: Record<string, string> = {},
): Promise<{ config: Config; emulator: HealthLakeEmulator }> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  process.env.AWS_ACCESS_KEY_ID = TEST_AWS.credentials.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = TEST_AWS.credentials.secretAccessKey;
  delete process.env.AWS_SESSION_TOKEN;
  delete process.env.AWS_PROFILE;
  const emulator = await startHealthLakeEmulator({
    ...TEST_AWS,
    backend: await testConfig(t),
    backendToken: testToken({}, 24 * 3600),
  });
  t.teardown(() => emulator.stop());
  process.env.AWS_ENDPOINT_URL_HEALTHLAKE = emulator.origin;
  const healthlake = loadConfig({
    FHIR_STORE: 'healthlake',
    HEALTHLAKE_ENDPOINT: emulator.endpoint,
    AWS_REGION: TEST_AWS.region,
    // The emulator is a whole telefhir app that compiles each type's validator on its first
    // write; under a loaded CI machine that alone has taken over the 10 s default. Tests of
    // timeouts set their own.
    HEALTHLAKE_TIMEOUT_MS: '30000',
    ...env,
  }).healthlake;
  // Embedded, the HealthLake store (and the workflow with it) keeps its Postgres side in
  // DATA_DIR/healthlake: a copy of the template too, not an initdb.
  if (!config.databaseUrl) {
    await copyTestTemplate(join(config.dataDir, 'healthlake', 'pgdata'), 'migrated');
    // testConfig made DATA_DIR/pgdata for the Postgres store; HealthLake refuses to start beside
    // one (store/healthlake/open.ts), so the unused copy goes.
    rmSync(join(config.dataDir, 'pgdata'), { recursive: true, force: true });
  }
  // In place: tests keep their config object, and startServer updates its baseUrl.
  Object.assign(config, { store: 'healthlake', healthlake });
  emulators.set(config, emulator);
  return { config, emulator };
}
