/**
 * Reminder records belong to the server. A Communication carrying the reminder identifier
 * (`urn:telefhir:reminder`) says "telefhir sent this message": Communication is writable by
 * people with access to a patient's record, so without this hook anyone allowed to write there
 * could forge such a record, or edit or delete a real one. It runs in the store's write, the
 * one place every route passes (REST, conditional writes, batch and transaction entries,
 * operations), for every caller, ADMIN included:
 *
 * - creating or updating a Communication that carries the identifier is refused (422), except
 *   the sender's own create (service.ts `markSent`): that one is recognised by the state it
 *   wrote in the same transaction just before — the `reminder` row named by the identifier,
 *   marked `sent` with this very Communication id — which no request can write;
 * - updating or deleting a Communication that already carries it is refused (403): the server
 *   never changes one once written.
 *
 * Erasure is not a write: `$expunge` and the retention purge remove rows directly
 * (store/postgres/erase.ts) and don't pass here, so they still erase reminder records.
 */
import type { Communication, Resource } from 'fhir/r4.js';
import { FhirError } from '../fhir/errors.js';
import type { WriteHook } from '../store/write-hook.js';

export const REMINDER_SYSTEM = 'urn:telefhir:reminder';

/** The reminder identifiers' values on a resource (none when it isn't a reminder record). */
function reminderIds(resource: Resource | undefined): string[] {
  const identifiers = (resource as Communication | undefined)?.identifier;
  if (!Array.isArray(identifiers)) return [];
  return identifiers
    .filter((i) => typeof i?.system === 'string' && i.system.trim() === REMINDER_SYSTEM)
    .map((i) => String(i.value ?? ''));
}

const readOnly = (id: string) =>
  new FhirError(
    403,
    'forbidden',
    `Communication/${id} is a reminder record the server wrote; it can't be changed or deleted`,
  );

export function reminderRecordGuard(): WriteHook {
  return {
    async beforeWrite({ sql }, type, id, resource, previous) {
      if (type !== 'Communication') return resource;
      if (reminderIds(previous).length) throw readOnly(id);
      const claimed = reminderIds(resource);
      if (!claimed.length) return resource;
      const ours =
        !previous &&
        claimed.length === 1 &&
        (
          await sql.query(
            `SELECT 1 FROM reminder WHERE id::text = $1 AND communication_id = $2 AND state = 'sent'`,
            [claimed[0], id],
          )
        ).length === 1;
      if (!ours) {
        throw new FhirError(
          422,
          'invalid',
          `The identifier system ${REMINDER_SYSTEM} is reserved for reminders the server sends`,
        );
      }
      return resource;
    },
    async beforeDelete(_tx, type, id, previous) {
      if (type === 'Communication' && reminderIds(previous).length) throw readOnly(id);
    },
    async afterWrite() {},
  };
}
