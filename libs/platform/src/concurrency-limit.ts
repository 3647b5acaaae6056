/**
 * Lets at most `limit` tasks run at once; the others wait their turn, first
 * come first served. A worker holds more job messages than it processes
 * (WORKER_PREFETCH over WORKER_CONCURRENCY): the waits around a job (confirms,
 * acks, flushes) overlap with other jobs' image work, while the images decoded
 * at once, and so the memory they take, stay bounded.
 */
export class ConcurrencyLimit {
  private running = 0;
  private readonly waiting: Array<{
    resolve: () => void;
    reject: (error: Error) => void;
  }> = [];
  private closedWith?: () => Error;

  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1)
      throw new Error(
        `ConcurrencyLimit: the limit must be a whole number from 1, got ${limit}`,
      );
  }

  /** Tasks waiting for their turn. */
  get queued(): number {
    return this.waiting.length;
  }

  /**
   * Starts nothing more: the tasks waiting for their turn, and any task given
   * from now on, fail with `reason()` without running; those running go on.
   */
  close(reason: () => Error): void {
    this.closedWith = reason;
    for (const waiter of this.waiting.splice(0)) waiter.reject(reason());
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.closedWith) throw this.closedWith();
    if (this.running >= this.limit)
      await new Promise<void>((resolve, reject) =>
        this.waiting.push({ resolve, reject }),
      );
    else this.running++;
    try {
      return await task();
    } finally {
      // The slot passes straight to the next in line, so a newcomer cannot jump
      // the queue.
      const next = this.waiting.shift();
      if (next) next.resolve();
      else this.running--;
    }
  }
}
