import type { Config } from '../config.js';
import type { FhirStore } from '../store/store.js';
import type { ProfileRegistry } from '../validation/profiles.js';
import type { Validator } from '../validation/validator.js';

declare module 'fastify' {
  interface FastifyInstance {
    config: Config;
    store: FhirStore;
    validator: Validator;
    profiles: ProfileRegistry;
  }
}
