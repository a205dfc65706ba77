import type { AuditEvent } from 'fhir/r4.js';
import type { Sql } from '../db/database.js';
import { appendStoredAudits, storedAuditEvent } from './writer.js';

export interface AuditBatcherOptions {
  /** Most events in one append statement. */
  maxBatch?: number;
  /** Most append statements running at once (each holds a connection and a lane). */
  maxInFlight?: number;
}

interface Pending {
  event: AuditEvent;
  resolve(event: AuditEvent): void;
  reject(error: unknown): void;
}

/**
 * Group commit for the AuditEvents written outside any transaction (every audited read,
 * search and refusal): each caller still waits until its event has committed (fail-closed: no
 * PHI goes out unrecorded), but the events that arrive while earlier appends are running go
 * to the database together, as one statement and one commit (appendStoredAudits), instead of
 * one round trip, one plan, one WAL flush each. At low load an event goes out on the next turn
 * of the event loop, alone; under load batches grow by themselves.
 *
 * A batch that fails is retried event by event, so one event the database refuses can't take
 * others down with it. Only events in flight live here, never past their request: the server
 * stays stateless.
 */
export class AuditBatcher {
  private readonly maxBatch: number;
  private readonly maxInFlight: number;
  private queue: Pending[] = [];
  private inFlight = 0;
  private scheduled = false;
  private drained: (() => void)[] = [];

  constructor(
    private readonly sql: Sql,
    options: AuditBatcherOptions = {},
  ) {
    this.maxBatch = options.maxBatch ?? 64;
    this.maxInFlight = options.maxInFlight ?? 4;
  }

  /** Resolves with the event as stored once it has committed. */
  append(event: AuditEvent): Promise<AuditEvent> {
    const stored = storedAuditEvent(event);
    return new Promise<AuditEvent>((resolve, reject) => {
      this.queue.push({ event: stored, resolve, reject });
      this.schedule();
    });
  }

  /** Whether events are waiting or being written: concurrent requests are auditing. */
  get busy(): boolean {
    return this.inFlight > 0 || this.queue.length > 0;
  }

  /** Resolves when every event handed in so far has been written or refused. */
  drain(): Promise<void> {
    if (this.queue.length === 0 && this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.drained.push(resolve));
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight >= this.maxInFlight || this.queue.length === 0) return;
    this.scheduled = true;
    // The events of everything that finished in this turn of the event loop go together.
    setImmediate(() => {
      this.scheduled = false;
      if (this.inFlight >= this.maxInFlight || this.queue.length === 0) return;
      void this.flush(this.queue.splice(0, this.maxBatch));
    });
  }

  private async flush(batch: Pending[]): Promise<void> {
    this.inFlight++;
    try {
      await this.write(batch);
    } finally {
      this.inFlight--;
      this.schedule();
      if (this.queue.length === 0 && this.inFlight === 0) {
        for (const resolve of this.drained.splice(0)) resolve();
      }
    }
  }

  private async write(batch: Pending[]): Promise<void> {
    try {
      await appendStoredAudits(
        this.sql,
        batch.map((pending) => pending.event),
      );
      for (const pending of batch) pending.resolve(pending.event);
    } catch (error) {
      if (batch.length === 1) return batch[0]!.reject(error);
      // One statement: nothing of the batch committed. Each event on its own, so only the
      // ones that really can't be written fail their requests.
      await Promise.all(
        batch.map((pending) =>
          appendStoredAudits(this.sql, [pending.event]).then(
            () => pending.resolve(pending.event),
            (failure: unknown) => pending.reject(failure),
          ),
        ),
      );
    }
  }
}
