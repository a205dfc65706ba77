/**
 * Turns at embedded PGlite's one connection. PGlite queues its callers itself, but without a
 * limit: a caller behind a transaction that never ends (or that waits on that very caller)
 * waits forever. Here each waits at most `timeoutMs`, then fails the way Postgres fails a lock
 * wait (55P03 lock_not_available), and leaves the queue without ever running.
 */

/** What a wait that ran out rejects with: shaped like pg's errors, so one mapping serves both. */
export class ConnectionWaitTimeout extends Error {
  readonly code = '55P03';
  constructor(timeoutMs: number) {
    super(
      `the embedded database was busy for longer than the lock timeout (${timeoutMs} ms, DB_LOCK_TIMEOUT_MS)`,
    );
    this.name = 'ConnectionWaitTimeout';
  }
}

interface Waiter {
  grant(): void;
}

export class ConnectionQueue {
  private held = false;
  private readonly waiting: Waiter[] = [];

  /**
   * Resolves with the release function once it is this caller's turn (first come, first
   * served); rejects after `timeoutMs` (0: never).
   */
  acquire(timeoutMs: number): Promise<() => void> {
    if (!this.held) {
      this.held = true;
      return Promise.resolve(this.releaser());
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        grant: () => {
          clearTimeout(timer);
          resolve(this.releaser());
        },
      };
      // 0: no limit, as lock_timeout = 0 means in Postgres.
      const timer =
        timeoutMs > 0
          ? setTimeout(() => {
              const at = this.waiting.indexOf(waiter);
              if (at >= 0) this.waiting.splice(at, 1);
              reject(new ConnectionWaitTimeout(timeoutMs));
            }, timeoutMs)
          : undefined;
      this.waiting.push(waiter);
    });
  }

  /** Hands the connection to the next waiter, once: a second call is a no-op. */
  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next.grant();
      else this.held = false;
    };
  }
}
