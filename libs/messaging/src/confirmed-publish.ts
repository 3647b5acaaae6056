import { ConfirmChannel, Options } from 'amqplib';
import { MessageType } from '@pipeline/contracts';
import { failpoint } from '@pipeline/failpoints';
import { randomUUID } from 'node:crypto';
import { wasNacked } from './channel-renewal';
import { BrokerUnavailableError, UnroutableMessageError } from './errors';

/**
 * Header naming one publish. basic.return carries the message's properties, not
 * its delivery tag: this header ties a return to the publish it answers, so a
 * return that comes after its publish gave up (timed out), or on another
 * channel, cannot fail a later publish of the same message id.
 */
export const PUBLISH_TOKEN_HEADER = 'x-publish-token';

/** amqplib types `headers` as `any`; the pipeline's are a plain record. */
export type PublishOptions = Omit<Options.Publish, 'headers'> & {
  headers?: Record<string, unknown>;
};

/**
 * Mandatory publishes on confirm channels, each resolved only once the broker
 * confirmed it: a return (no queue took it), a nack, a closed channel or no
 * confirm within the timeout all reject. Channels are registered with `watch`
 * when opened.
 */
export class ConfirmedPublishes {
  /**
   * Publishes awaiting their confirm, by token: whether the broker returned
   * them.
   */
  private readonly pending = new Map<string, { returned: boolean }>();
  private readonly closed = new WeakSet<ConfirmChannel>();

  watch(channel: ConfirmChannel): void {
    // The broker sends basic.return before the confirm of the same message.
    channel.on('return', (message) => {
      const entry = this.pending.get(
        String(message.properties.headers?.[PUBLISH_TOKEN_HEADER]),
      );
      if (entry) entry.returned = true;
    });
    channel.once('close', () => this.closed.add(channel));
  }

  /**
   * Rejects with BrokerUnavailableError or UnroutableMessageError. `onNacked`
   * runs when the broker nacks the message, even after the publish timed out
   * (see NackedChannelRenewal).
   */
  send(
    channel: ConfirmChannel,
    exchange: string,
    routingKey: string,
    content: Buffer,
    options: PublishOptions,
    timeoutMs: number,
    onNacked?: () => void,
  ): Promise<void> {
    if (this.closed.has(channel))
      return Promise.reject(
        new BrokerUnavailableError('cannot publish: the channel is closed'),
      );
    const token = randomUUID();
    const entry = { returned: false };
    this.pending.set(token, entry);
    return new Promise<void>((resolve, reject) => {
      const end = this.ending(token, timeoutMs, resolve, reject);
      let stalled: Promise<void> | undefined;
      try {
        channel.publish(
          exchange,
          routingKey,
          content,
          {
            ...options,
            persistent: true,
            mandatory: true,
            headers: { ...options.headers, [PUBLISH_TOKEN_HEADER]: token },
          },
          (error: unknown) => {
            if (error && wasNacked(error)) onNacked?.();
            if (error)
              end.fail(
                new BrokerUnavailableError(
                  `RabbitMQ did not accept the message: ${String((error as Error)?.message ?? error)}`,
                ),
              );
            else if (entry.returned)
              end.fail(new UnroutableMessageError(routingKey));
            else end.confirmed(stalled);
          },
        );
        // Not for heartbeats: sent on a timer from the start, they would reach
        // the point before any job does.
        if (routingKey !== MessageType.workerHeartbeat)
          stalled = failpoint('publish.before-confirm');
      } catch (error) {
        end.fail(
          new BrokerUnavailableError(
            `cannot publish: ${(error as Error).message}`,
          ),
        );
      }
    });
  }

  /**
   * How one publish ends: confirmed, failed, or not confirmed in time; the
   * first of them settles it.
   */
  private ending(
    token: string,
    timeoutMs: number,
    resolve: () => void,
    reject: (error: Error) => void,
  ): {
    fail: (error: Error) => void;
    confirmed: (stalled?: Promise<void>) => void;
  } {
    const stop = () => {
      clearTimeout(timer);
      this.pending.delete(token);
    };
    const fail = (error: Error) => {
      stop();
      reject(error);
    };
    const timer = setTimeout(
      () =>
        fail(
          new BrokerUnavailableError(
            `RabbitMQ did not confirm within ${timeoutMs} ms`,
          ),
        ),
      timeoutMs,
    );
    return {
      fail,
      confirmed: (stalled) => {
        stop();
        if (stalled) stalled.then(resolve, reject);
        else resolve();
      },
    };
  }
}
