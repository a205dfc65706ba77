import type { Config } from '../config.js';
import { openPostgresStore } from './postgres/open.js';
import type { WriteHook } from './write-hook.js';
import type { FhirStore } from './store.js';

/**
 * The configured clinical store (FHIR_STORE). HealthLake's modules (the AWS SDK among them) are
 * loaded only when it is the one configured: start-up pays only for what is wired.
 */
export async function openStore(config: Config, hooks: WriteHook[] = []): Promise<FhirStore> {
  if (config.store !== 'healthlake') return openPostgresStore(config, hooks);
  const { openHealthLakeStore } = await import('./healthlake/open.js');
  return openHealthLakeStore(config, hooks);
}
