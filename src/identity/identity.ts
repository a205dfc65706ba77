/**
 * Patient identity, as the rest of the server sees it: the MRN format and the SSN cipher, whose
 * data key is loaded once the database is open (the write hook exists before that, because the
 * store is opened with its hooks).
 */
import type { IdentityConfig } from '../config.js';
import type { Database } from '../db/database.js';
import { ensureIdentitySchema } from './schema.js';
import type { WriteHook } from '../store/write-hook.js';
import { identityHook } from './identity-hook.js';
import type { KeyWrapper } from './key-wrapper.js';
import type { MrnFormat } from './mrn.js';
import { loadSsnCipher, type SsnCipher } from './ssn-cipher.js';
import { protectResource } from './protect.js';
import { rewriteSsnSearch } from './search-params.js';
import { revealSsns } from './reveal.js';

export class PatientIdentity {
  readonly mrn: MrnFormat;
  private loaded: SsnCipher | undefined;

  constructor(config: Pick<IdentityConfig, 'mrnPrefix' | 'mrnWidth' | 'mrnSystem'>) {
    this.mrn = { prefix: config.mrnPrefix, width: config.mrnWidth, system: config.mrnSystem };
  }

  /**
   * Unwraps (or makes) the deployment's SSN data key; call before serving requests. `standalone`:
   * `db` is not the Postgres store's (HealthLake), so the identity tables are made here.
   */
  async load(db: Database, wrapper: KeyWrapper, standalone = false): Promise<void> {
    if (standalone) await ensureIdentitySchema(db);
    this.loaded = await loadSsnCipher(db, wrapper);
  }

  get cipher(): SsnCipher {
    if (!this.loaded) throw new Error('the SSN data key is not loaded yet');
    return this.loaded;
  }

  /** The store's hook: seals SSNs and assigns and guards MRNs in every write. */
  writeHook(): WriteHook {
    let hook: WriteHook | undefined;
    const get = () => (hook ??= identityHook(this.cipher, this.mrn));
    return {
      beforeWrite: (tx, type, id, resource, previous) =>
        get().beforeWrite!(tx, type, id, resource, previous),
      afterWrite: (tx, type, id, resource, previous) =>
        get().afterWrite(tx, type, id, resource, previous),
    };
  }

  /**
   * At the REST boundary, for every store (HealthLake too): numbers become token + ciphertext
   * before anything else sees them. Masked values are resolved by the write hook, which knows
   * the version being replaced.
   */
  sealNumbers<T>(resource: T): T {
    return protectResource(this.cipher, resource, undefined, true);
  }

  searchParams(params: URLSearchParams): URLSearchParams {
    return rewriteSsnSearch(this.cipher, params);
  }

  reveal(payload: unknown, full: boolean): unknown {
    return revealSsns(this.cipher, payload, full);
  }
}
