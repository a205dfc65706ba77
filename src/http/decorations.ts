import type { Config } from '../config.js';
import type { FhirStore } from '../store/store.js';

declare module 'fastify' {
  interface FastifyInstance {
    config: Config;
    store: FhirStore;
  }
}
