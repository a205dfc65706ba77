import type { BlobStore } from '../blob/blob-store.js';
import type { Config } from '../config.js';
import type { FhirStore } from '../store/store.js';
import type { ReminderService } from '../reminders/service.js';
import type { ProfileRegistry } from '../validation/profiles.js';
import type { Validator } from '../validation/validator.js';

declare module 'fastify' {
  interface FastifyInstance {
    config: Config;
    store: FhirStore;
    validator: Validator;
    profiles: ProfileRegistry;
    /** Where document bytes live (src/blob/); the purge and $expunge use it too. */
    blobs: BlobStore;
    /** Appointment reminders (src/reminders/): `runDue` sends what is due. */
    reminders: ReminderService;
  }
}
