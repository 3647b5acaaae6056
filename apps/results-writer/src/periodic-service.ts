import {
  Logger,
  OnApplicationBootstrap,
  OnApplicationShutdown,
} from '@nestjs/common';

/**
 * A service that makes a pass every `intervalMs` from when the app is up
 * until it stops, counted from the end of the last pass; an interval of 0
 * never makes one. A pass that fails is logged and tried again next time; the
 * app's shutdown waits for the pass under way.
 */
export abstract class PeriodicService
  implements OnApplicationBootstrap, OnApplicationShutdown
{
  protected readonly logger = new Logger(this.constructor.name);
  private timer?: NodeJS.Timeout;
  private running?: Promise<unknown>;

  constructor(
    /** How the passes' failures are logged, e.g. "Sweep". */
    private readonly label: string,
    private readonly intervalMs: number,
  ) {}

  /** One pass. */
  abstract sweep(): Promise<unknown>;

  onApplicationBootstrap(): void {
    if (this.intervalMs === 0) return;
    this.schedule();
  }

  async onApplicationShutdown(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private schedule(): void {
    this.timer = setTimeout(() => {
      this.running = this.sweep()
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
