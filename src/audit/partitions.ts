import type { Sql } from '../db/database.js';

/** Months of audit_event partitions made ahead of the current one (008_audit_event.sql). */
export const MONTHS_AHEAD = 2;

/** Makes this month's audit_event partition and the next MONTHS_AHEAD ones, if missing. */
export async function ensureAuditPartitions(sql: Sql): Promise<void> {
  await sql.query('SELECT audit_event_partitions_ahead($1::int)', [MONTHS_AHEAD]);
}

/** The first instant of the UTC month after `ms`. */
const nextMonth = (ms: number) => {
  const d = new Date(ms);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
};

/**
 * Keeps partitions ahead of the clock in a server that runs for months: once a month turns,
 * the next append makes the partitions ahead again (in the background: until then events go to
 * the partitions made before, and an event with no partition lands in the default one rather
 * than fail).
 */
export class AuditPartitions {
  private checkAfter = 0;

  constructor(private readonly sql: Sql) {}

  /** After ensureAuditPartitions ran (start-up): nothing to do until the month turns. */
  ensured(now = Date.now()): void {
    this.checkAfter = nextMonth(now);
  }

  /** Cheap on every append: a clock comparison, and a statement once a month. */
  keepAhead(now = Date.now()): void {
    if (now < this.checkAfter) return;
    this.checkAfter = nextMonth(now);
    ensureAuditPartitions(this.sql).catch(() => {
      this.checkAfter = 0; // try again on the next append
    });
  }
}
