import { Logger } from '@nestjs/common';

/**
 * Runs a task every `intervalMs`, counted from the end of the last run, until
 * stopped; an interval of 0 never runs it. A run that fails is logged and
 * the task tried again next time.
 */
export class PeriodicTask {
  private timer?: NodeJS.Timeout;
  private running?: Promise<unknown>;

  constructor(
    /** How the task's failures are logged, e.g. "Sweep". */
    private readonly label: string,
    private readonly intervalMs: number,
    private readonly run: () => Promise<unknown>,
    private readonly logger: Logger,
  ) {}

  start(): void {
    if (this.intervalMs === 0) return;
    this.schedule();
  }

  /** Cancels the next run and waits for the current one to end. */
  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private schedule(): void {
    this.timer = setTimeout(() => {
      this.running = this.run()
        .catch((error: Error) =>
          this.logger.warn(
            `${this.label} failed, trying again next time: ${error.message}`,
          ),
        )
        .finally(() => {
          if (this.timer) this.schedule();
        });
    }, this.intervalMs);
  }
}
