import { ChannelModel, ConfirmChannel } from 'amqplib';

/** Shortest time between two renewals of one channel after nacks. */
const RENEW_INTERVAL_MS = 1000;

/**
 * Whether amqplib reports that the broker nacked a publish (not that the
 * channel closed).
 */
export function wasNacked(error: unknown): boolean {
  return String((error as Error)?.message ?? error).includes('nacked');
}

/**
 * Replaces a confirm channel the broker nacked. On a cluster, RabbitMQ 3.x
 * keeps, per channel, which node leads a quorum queue, and a channel that first
 * published while that node was down goes on being refused even once another
 * node leads; a new channel asks again. At most once a second; the old channel
 * is closed once the confirms still due on it had time to arrive.
 */
export class NackedChannelRenewal {
  private last = 0;

  constructor(
    /** Opens the new channel and puts it in use. */
    private readonly open: (model: ChannelModel) => Promise<void>,
    private readonly closeStaleAfterMs: number,
    private readonly onError: (error: Error) => void,
  ) {}

  /**
   * Renews `stale` unless it is no longer the channel in use (`current`) or was
   * just renewed.
   */
  renew(
    stale: ConfirmChannel,
    current: ConfirmChannel | null,
    model: ChannelModel | null,
  ): void {
    if (
      current !== stale ||
      !model ||
      Date.now() - this.last < RENEW_INTERVAL_MS
    )
      return;
    this.last = Date.now();
    this.open(model).then(
      () =>
        setTimeout(
          () => void stale.close().catch(() => undefined),
          this.closeStaleAfterMs,
        ).unref(),
      this.onError,
    );
  }
}
