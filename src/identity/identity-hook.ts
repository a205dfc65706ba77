/**
 * Patient identity at the one place every write passes, whatever route it came by (REST,
 * conditional, batch and transaction entries, operations): the store's write, inside its
 * transaction. Before the version is stamped, SSNs are sealed (protect.ts) and a Patient without
 * an MRN keeps its previous one or gets the next; after it is stored, patient_mrn is brought in
 * step, so a second patient with the same MRN is a 409 and nothing is written.
 */
import type { Identifier, Resource } from 'fhir/r4.js';
import type { WriteHook } from '../store/write-hook.js';
import { claimMrns, mrnsOf, nextMrn, type MrnFormat } from './mrn.js';
import { protectResource } from './protect.js';
import type { SsnCipher } from './ssn-cipher.js';

type WithIdentifiers = Resource & { identifier?: Identifier[] };

function identifiersOf(resource: Resource | undefined): Identifier[] | undefined {
  const identifiers = (resource as WithIdentifiers | undefined)?.identifier;
  return Array.isArray(identifiers) ? identifiers : undefined;
}

export function identityHook(cipher: SsnCipher, format: MrnFormat): WriteHook {
  return {
    async beforeWrite({ sql }, type, _id, resource, previous) {
      const previousIds = identifiersOf(previous);
      const protectedResource = protectResource(cipher, resource, previous);
      let identifiers = identifiersOf(protectedResource);
      if (type === 'Patient' && !mrnsOf({ identifier: identifiers }, format.system).length) {
        const carried = (previousIds ?? []).filter(
          (identifier) => identifier.system === format.system && identifier.value,
        );
        identifiers = [
          ...(identifiers ?? []),
          ...(carried.length ? carried : [await nextMrn(sql, format)]),
        ];
      }
      return identifiers
        ? ({ ...protectedResource, identifier: identifiers } as Resource)
        : protectedResource;
    },
    async afterWrite({ sql }, type, id, resource) {
      // A deletion keeps its MRN: MRNs are never reused, and the patient may come back.
      if (type !== 'Patient' || !resource) return;
      await claimMrns(sql, id, mrnsOf(resource as WithIdentifiers, format.system));
    },
  };
}
