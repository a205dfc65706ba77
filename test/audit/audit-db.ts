/** Shared by the audit tests: a migrated database of the test's own, and a read's event. */
import type { Test } from 'tap';
import { buildAuditEvent } from '../../src/audit/event.js';
import { openDatabase, type Database } from '../../src/db/database.js';
import { migrate } from '../../src/db/migrate.js';
import { isolatedDatabase } from '../helpers.js';

export async function auditDatabase(t: Test): Promise<Database> {
  const where = await isolatedDatabase(t);
  const db = await openDatabase({ databaseUrl: where.databaseUrl, dataDir: where.dataDir ?? '' });
  t.teardown(() => db.close());
  await migrate(db);
  return db;
}

/** A practitioner's read of Observation/o-<n>, about Patient/<patient>. */
export const readEvent = (n: number, patient = 'p-1') =>
  buildAuditEvent({
    interaction: 'read',
    outcome: 'success',
    who: { reference: 'Practitioner/dr-1' },
    subject: 'user-1',
    requestId: `req-${n}`,
    entities: [{ reference: `Observation/o-${n}` }],
    patient: `Patient/${patient}`,
  });
