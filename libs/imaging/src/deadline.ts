/**
 * A job ran past its time limit; the job fails for good (PROCESSING_TIMEOUT), a
 * retry would only burn the same time again.
 */
export class ProcessingTimeoutError extends Error {
  constructor(
    readonly limitMs: number,
    readonly during: string,
  ) {
    super(
      `Processing took longer than the job's time limit of ${formatSeconds(limitMs)} (stopped while ${during})`,
    );
    this.name = 'ProcessingTimeoutError';
  }
}

function formatSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))} s`;
}

/**
 * The moment a job must be done by, shared by everything it does (download,
 * watermark rendering, every sharp pipeline of every variant), so that the
 * limit is the job's, not each step's.
 */
export class Deadline {
  /**
   * Work the deadline cut short that may still be running (libvips, until its
   * own timeout stops it).
   */
  private readonly abandoned = new Set<Promise<unknown>>();

  private constructor(
    private readonly limitMs: number,
    private readonly endsAt: number,
    private readonly now: () => number,
  ) {}

  /**
   * `ms` from now; `now` is a monotonic clock in ms (the tests pass their own).
   */
  static after(
    ms: number,
    now: () => number = () => performance.now(),
  ): Deadline {
    if (!Number.isFinite(ms) || ms <= 0)
      throw new RangeError(
        `a deadline needs a positive number of milliseconds (got ${ms})`,
      );
    return new Deadline(ms, now() + ms, now);
  }

  /** Milliseconds left, never below 0. */
  remainingMs(): number {
    return Math.max(0, this.endsAt - this.now());
  }

  get expired(): boolean {
    return this.remainingMs() === 0;
  }

  /** The error for work stopped by this deadline. */
  timeoutError(during: string): ProcessingTimeoutError {
    return new ProcessingTimeoutError(this.limitMs, during);
  }

  /** Throws the timeout error if no time is left, before starting `during`. */
  check(during: string): void {
    if (this.expired) throw this.timeoutError(during);
  }

  /**
   * The time left in whole seconds, for sharp's `.timeout()`, which counts
   * whole seconds and treats 0 as "no limit": rounded up, so libvips stops at
   * most a second after the deadline (`race` answers at the deadline itself).
   */
  sharpTimeoutSeconds(): number {
    return Math.max(1, Math.ceil(this.remainingMs() / 1000));
  }

  /**
   * `work`'s result, or the timeout error once the deadline passes first. Work
   * that cannot be interrupted from here goes on; it is kept so that
   * `settled()` can wait for it.
   */
  async race<T>(work: Promise<T>, during: string): Promise<T> {
    this.check(during);
    let timer: NodeJS.Timeout | undefined;
    const expiry = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(
        () => reject(this.timeoutError(during)),
        this.remainingMs(),
      );
    });
    try {
      return await Promise.race([work, expiry]);
    } catch (error) {
      if (error instanceof ProcessingTimeoutError) {
        const left = work.then(
          () => undefined,
          () => undefined,
        );
        this.abandoned.add(left);
        void left.then(() => this.abandoned.delete(left));
      }
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Resolves once the work `race` gave up on has ended too, so its CPU and
   * memory are free again.
   */
  async settled(): Promise<void> {
    await Promise.all([...this.abandoned]);
  }
}
