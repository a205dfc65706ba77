import type { Config } from '../config.js';
import { openHealthLakeStore } from './healthlake/open.js';
import { openPostgresStore } from './postgres/open.js';
import type { WriteHook } from './postgres/postgres-store.js';
import type { FhirStore } from './store.js';

/** The configured clinical store (FHIR_STORE). */
export function openStore(config: Config, hooks: WriteHook[] = []): Promise<FhirStore> {
  return config.store === 'healthlake'
    ? openHealthLakeStore(config, hooks)
    : openPostgresStore(config, hooks);
}
