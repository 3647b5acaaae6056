import { ArgumentsHost, Catch, Logger } from '@nestjs/common';
import { BaseExceptionFilter } from '@nestjs/core';
import {
  BaseRpcContext,
  CustomTransportStrategy,
  MessageHandler,
  Server,
} from '@nestjs/microservices';
import { Channel, ChannelModel, ConfirmChannel, ConsumeMessage } from 'amqplib';
import { lastValueFrom, Observable, throwError } from 'rxjs';
import { AmqpConnection } from './amqp-connection';
import { roundDelay } from './amqp-urls';
import { NackedChannelRenewal } from './channel-renewal';
import { ConfirmedPublishes } from './confirmed-publish';
import {
  NotStartedError,
  OutcomeNotPublishedError,
  PermanentMessageError,
} from './errors';
import { inConsumeSpan } from './trace-context';

export interface QueueConsumer {
  queue: string;
  /**
   * Unacked messages this consumer may hold; also how many handlers run at
   * once.
   */
  prefetch: number;
  /**
   * With a limit, a message whose handler fails transiently waits in the
   * topology's delay queues and is tried again, up to this many tries in all;
   * then it is parked. Without one it goes straight back to its queue after
   * `requeuePauseMs`.
   */
  maxTries?: number;
}

export interface AmqpTransportOptions {
  consumers: QueueConsumer[];
  /**
   * Pause before a message whose handler failed transiently goes back to the
   * queue.
   */
  requeuePauseMs: number;
  /** Longest wait for in-flight handlers when the app shuts down. */
  shutdownGraceMs: number;
  /**
   * Longest wait for the broker to confirm a copy sent to a delay queue;
   * 5000 ms by default.
   */
  publishTimeoutMs?: number;
  /**
   * Whether a handler's error says the message itself is malformed (it breaks
   * the app's message contract): parked at once, as a PermanentMessageError
   * is, since no retry can fix it.
   */
  isMalformed?: (error: unknown) => boolean;
}

/**
 * Pauses before re-attaching a consumer the broker cancelled or whose channel
 * it closed: doubling from the first up to the longest.
 */
const REATTACH_PAUSE_MS = { first: 200, longest: 5000 } as const;

/**
 * A consumer on its channel, and how many of its deliveries are still being
 * handled.
 */
interface AttachedConsumer {
  channel: Channel;
  consumerTag: string;
  inFlight: number;
}

/** Headers the transport keeps on a message it sends to a delay queue. */
export const RetryHeaders = {
  /** Tries so far. */
  tries: 'x-tries',
  /**
   * `tries` under its former name, read from copies that waited in a delay
   * queue across an upgrade.
   */
  formerTries: 'x-retries',
  /**
   * Deliveries of the message before it went to the delay queue, so delivery
   * numbers keep counting.
   */
  priorDeliveries: 'x-prior-deliveries',
  /** Why the last try failed. */
  lastError: 'x-last-error',
} as const;

function numericHeader(message: ConsumeMessage, name: string): number {
  const value = Number(message.properties.headers?.[name] ?? 0);
  return Number.isFinite(value) && value > 0 ? value : 0;
}

/**
 * amqplib types message properties as `any`; those the pipeline sets are
 * strings (or absent).
 */
function textProperty(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/**
 * What a handler gets besides the payload: the raw delivery, and where it
 * stands in its tries. One word per count:
 * - attempt: one run of a job; an operator's retry starts the next attempt
 *   (`attempt` on messages, rows and the API).
 * - try: one handling of a message that counts toward its limit (`MAX_TRIES`);
 *   a transient failure sends it through a delay queue to its next try
 *   (`tryNumber`, the `x-tries` header).
 * - delivery: the broker handing a message to a consumer; a crash or a requeue
 *   makes a redelivery, which is a delivery but not a try (`deliveryNumber`,
 *   `AMQP_DELIVERY_LIMIT`, the jobs' `deliveries` count).
 * - retry: the move from one try to the next; `retryDelaysMs` are the delay
 *   queues' waits. A requeue (no delay queue) waits `requeuePauseMs`.
 */
export class AmqpContext extends BaseRpcContext<
  [ConsumeMessage, number | undefined]
> {
  get message(): ConsumeMessage {
    return this.args[0];
  }

  /**
   * 1 for the first delivery, counting redeliveries (quorum queues count them
   * in `x-delivery-count`) and the deliveries before each retry.
   */
  get deliveryNumber(): number {
    return (
      numericHeader(this.message, RetryHeaders.priorDeliveries) +
      numericHeader(this.message, 'x-delivery-count') +
      1
    );
  }

  /**
   * The correlation id its publisher gave it (a request's or a job's), if any.
   */
  get correlationId(): string | undefined {
    return textProperty(this.message.properties.correlationId);
  }

  /**
   * 1 for the first try; each retry from a delay queue adds one (a crash
   * redelivery does not).
   */
  get tryNumber(): number {
    const tries =
      numericHeader(this.message, RetryHeaders.tries) ||
      numericHeader(this.message, RetryHeaders.formerTries);
    return tries + 1;
  }

  /**
   * Whether a transient failure now is final: the message will be parked, not
   * retried.
   */
  get isLastTry(): boolean {
    const maxTries = this.args[1];
    return maxTries === undefined || this.tryNumber >= maxTries;
  }
}

/**
 * Nest's default RPC exception filter replaces every error with a generic one.
 * The transport needs the original to tell a permanent failure from a transient
 * one, so apps that consume messages install this filter globally; HTTP errors
 * still go to Nest's usual handling.
 */
@Catch()
export class PassHandlerErrorsToTransport extends BaseExceptionFilter {
  catch(exception: unknown, host: ArgumentsHost): Observable<never> | void {
    if (host.getType() === 'rpc') return throwError(() => exception);
    return super.catch(exception, host);
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A Nest microservice transport on amqplib with the
 * guarantees @nestjs/microservices' own RMQ transport lacks: manual acks sent
 * only when the handler has finished, bounded prefetch, parking of poison
 * messages, and a shutdown that drains in-flight work. Handlers are
 * `@EventPattern(type)` methods, dispatched on the message's `type` property.
 */
export class AmqpTransport extends Server implements CustomTransportStrategy {
  protected readonly logger = new Logger(AmqpTransport.name);
  /** Each consumer's live attachment; missing while it is being re-attached. */
  private readonly attached = new Map<QueueConsumer, AttachedConsumer>();
  /** Consumers with a re-attach loop running, and the connection it runs on. */
  private readonly reattaching = new Map<QueueConsumer, ChannelModel>();
  private retryChannel: ConfirmChannel | null = null;
  private readonly retryPublishes = new ConfirmedPublishes();
  private readonly retryRenewal = new NackedChannelRenewal(
    (model) => this.openRetryChannel(model),
    10_000,
    (error) =>
      this.logger.warn(`Could not open a new retry channel: ${error.message}`),
  );
  private inFlight = 0;
  private drained?: () => void;
  private stopping = false;
  /** Resolves once `close` has cancelled every consumer. */
  private readonly consumersCancelled: Promise<void>;
  private markConsumersCancelled!: () => void;

  constructor(
    private readonly connection: AmqpConnection,
    private readonly options: AmqpTransportOptions,
  ) {
    super();
    this.consumersCancelled = new Promise(
      (resolve) => (this.markConsumersCancelled = resolve),
    );
  }

  /**
   * Whether every consumer is attached: false while any is missing (the broker
   * cancelled it, closed its channel, or the connection is down).
   */
  get isConsuming(): boolean {
    return (
      !this.stopping &&
      this.connection.isConnected &&
      this.options.consumers.every((consumer) => this.attached.has(consumer))
    );
  }

  listen(callback: (error?: unknown) => void): void {
    this.connection
      .onConnect((model) => this.attach(model))
      .then(() => callback(), callback);
  }

  private async attach(model: ChannelModel): Promise<void> {
    if (this.stopping) return;
    this.attached.clear();
    if (
      this.options.consumers.some((consumer) => consumer.maxTries !== undefined)
    )
      await this.openRetryChannel(model);
    for (const consumer of this.options.consumers)
      await this.consume(model, consumer);
  }

  /**
   * Opens a channel and consumes `consumer.queue` on it; throws (the channel
   * closed) if the broker refuses.
   */
  private async consume(
    model: ChannelModel,
    consumer: QueueConsumer,
  ): Promise<void> {
    const { queue, prefetch } = consumer;
    const channel = await model.createChannel();
    channel.on('error', (error: Error) =>
      this.logger.warn(`Consumer channel for ${queue}: ${error.message}`),
    );
    channel.once('close', () =>
      this.lost(model, consumer, channel, 'the broker closed its channel'),
    );
    await channel.prefetch(prefetch);
    const attachment: AttachedConsumer = {
      channel,
      consumerTag: '',
      inFlight: 0,
    };
    const { consumerTag } = await channel.consume(
      queue,
      (message) => {
        if (message) return void this.handle(attachment, consumer, message);
        this.logger.error(`RabbitMQ cancelled the consumer of ${queue}`);
        this.lost(model, consumer, channel, 'the broker cancelled it');
        // Deliveries still being handled are settled on this channel; close it
        // after them.
        if (attachment.inFlight === 0)
          void channel.close().catch(() => undefined);
      },
      { noAck: false },
    );
    attachment.consumerTag = consumerTag;
    this.attached.set(consumer, attachment);
    this.logger.log(`Consuming ${queue} (prefetch ${prefetch})`);
  }

  /**
   * A consumer stopped on a live connection: it is attached again, on a new
   * channel, with a growing pause between tries (its queue may not exist yet).
   * After a reconnect the connection's hook re-attaches every consumer instead.
   */
  private lost(
    model: ChannelModel,
    consumer: QueueConsumer,
    channel: Channel,
    reason: string,
  ): void {
    if (this.attached.get(consumer)?.channel !== channel) return;
    this.attached.delete(consumer);
    if (this.stopping || this.reattaching.get(consumer) === model) return;
    this.reattaching.set(consumer, model);
    void this.reattach(model, consumer, reason).finally(() => {
      if (this.reattaching.get(consumer) === model)
        this.reattaching.delete(consumer);
    });
  }

  private async reattach(
    model: ChannelModel,
    consumer: QueueConsumer,
    reason: string,
  ): Promise<void> {
    this.logger.warn(
      `Consumer of ${consumer.queue} stopped (${reason}); attaching it again`,
    );
    for (let failures = 1; ; failures++) {
      await new Promise((resolve) =>
        setTimeout(
          resolve,
          roundDelay(
            failures,
            REATTACH_PAUSE_MS.first,
            REATTACH_PAUSE_MS.longest,
          ),
        ).unref(),
      );
      if (
        this.stopping ||
        this.connection.current !== model ||
        this.attached.has(consumer)
      )
        return;
      try {
        await this.consume(model, consumer);
        return;
      } catch (error) {
        this.logger.warn(
          `Cannot consume ${consumer.queue} yet: ${(error as Error).message}`,
        );
      }
    }
  }

  private async openRetryChannel(model: ChannelModel): Promise<void> {
    const retryChannel = await model.createConfirmChannel();
    this.retryPublishes.watch(retryChannel);
    retryChannel.on('error', (error: Error) =>
      this.logger.warn(`Retry channel: ${error.message}`),
    );
    retryChannel.on('close', () => {
      if (this.retryChannel === retryChannel) this.retryChannel = null;
    });
    this.retryChannel = retryChannel;
  }

  private settle(
    channel: Channel,
    message: ConsumeMessage,
    outcome: 'ack' | 'requeue' | 'park',
  ): void {
    try {
      if (outcome === 'ack') channel.ack(message);
      else channel.nack(message, false, outcome === 'requeue');
    } catch (error) {
      // The channel closed under us: the broker hands the message out again,
      // nothing is lost.
      this.logger.warn(
        `Could not ${outcome} message ${message.properties.messageId}: ${(error as Error).message}`,
      );
    }
  }

  private async handle(
    attachment: AttachedConsumer,
    consumer: QueueConsumer,
    message: ConsumeMessage,
  ): Promise<void> {
    this.inFlight++;
    attachment.inFlight++;
    try {
      this.settle(
        attachment.channel,
        message,
        await this.dispatch(message, consumer),
      );
    } finally {
      this.inFlight--;
      attachment.inFlight--;
      // A channel whose consumer the broker cancelled is closed once its last
      // delivery is settled.
      if (
        attachment.inFlight === 0 &&
        this.attached.get(consumer) !== attachment &&
        !this.stopping
      )
        void attachment.channel.close().catch(() => undefined);
      if (this.inFlight === 0) this.drained?.();
    }
  }

  private async dispatch(
    message: ConsumeMessage,
    consumer: QueueConsumer,
  ): Promise<'ack' | 'requeue' | 'park'> {
    const delivery = this.unpack(message);
    if (!delivery) return 'park';
    const context = new AmqpContext([message, consumer.maxTries]);
    try {
      await inConsumeSpan(
        {
          type: String(textProperty(message.properties.type)),
          messageId: textProperty(message.properties.messageId),
          destination: consumer.queue,
        },
        message.properties.headers,
        async () => {
          await lastValueFrom(
            this.transformToObservable(
              await delivery.handler(delivery.payload, context),
            ),
            { defaultValue: undefined },
          );
        },
      );
      return 'ack';
    } catch (error) {
      return this.afterFailure(error, message, context, consumer);
    }
  }

  /**
   * The message's handler and its parsed body; null (said in the log) when it
   * has no handler or its body is not JSON, which no retry can fix.
   */
  private unpack(
    message: ConsumeMessage,
  ): { handler: MessageHandler; payload: unknown } | null {
    const type = textProperty(message.properties.type);
    const messageId = textProperty(message.properties.messageId);
    const handler = this.getHandlerByPattern(String(type));
    if (!handler) {
      this.logger.error(
        `Parking message ${messageId}: no handler for type ${JSON.stringify(type)}`,
      );
      return null;
    }
    try {
      return {
        handler,
        payload: JSON.parse(message.content.toString('utf8')),
      };
    } catch (error) {
      this.logger.error(
        `Parking message ${messageId}: body is not JSON (${(error as Error).message})`,
      );
      return null;
    }
  }

  /**
   * What becomes of a message whose handler failed: requeued, parked, or sent
   * to a delay queue for its next try.
   */
  private async afterFailure(
    error: unknown,
    message: ConsumeMessage,
    context: AmqpContext,
    consumer: QueueConsumer,
  ): Promise<'ack' | 'requeue' | 'park'> {
    const type = textProperty(message.properties.type);
    const messageId = textProperty(message.properties.messageId);
    const reason = error instanceof Error ? error.message : String(error);
    // Handed back only once no consumer of ours is left to be given it again.
    if (error instanceof NotStartedError) {
      await this.consumersCancelled;
      return (await this.handBack(message, context, consumer.queue))
        ? 'ack'
        : 'requeue';
    }
    if (error instanceof OutcomeNotPublishedError) {
      this.logger.warn(
        `Outcome of message ${messageId} (${type}) not published, will be redelivered: ${reason}`,
      );
      await sleep(this.options.requeuePauseMs);
      return 'requeue';
    }
    if (
      error instanceof PermanentMessageError ||
      this.options.isMalformed?.(error)
    ) {
      this.logger.error(`Parking message ${messageId} (${type}): ${reason}`);
      return 'park';
    }
    if (consumer.maxTries !== undefined) {
      if (context.isLastTry) {
        this.logger.error(
          `Parking message ${messageId} (${type}) after ${context.tryNumber} tries: ${reason}`,
        );
        return 'park';
      }
      const tier = this.connection.topology.retryTier(context.tryNumber - 1);
      if (
        tier &&
        (await this.sendToDelayQueue(message, context, tier.queue, reason))
      ) {
        this.logger.warn(
          `Try ${context.tryNumber} of ${messageId} (${type}) failed, trying again in ${tier.delayMs} ms: ${reason}`,
        );
        return 'ack';
      }
    }
    this.logger.warn(
      `Handler for ${type} failed on message ${messageId}, will be redelivered: ${reason}`,
    );
    await sleep(this.options.requeuePauseMs);
    return 'requeue';
  }

  /**
   * Puts a copy of the message in a delay queue and resolves true once the
   * broker confirmed it; only then is the original acked. Should the process
   * die in between, the original is delivered again as well: the job runs
   * twice, and event ids keep its result single.
   */
  private sendToDelayQueue(
    message: ConsumeMessage,
    context: AmqpContext,
    queue: string,
    reason: string,
  ): Promise<boolean> {
    return this.sendCopy(message, queue, {
      [RetryHeaders.tries]: context.tryNumber,
      [RetryHeaders.priorDeliveries]: context.deliveryNumber,
      [RetryHeaders.lastError]: reason.slice(0, 500),
    });
  }

  /**
   * Gives a message that was held but not started back to its queue as a copy,
   * with the same try and delivery numbers, and resolves true once the broker
   * confirmed it. A requeue would count as a delivery toward the queue's limit
   * (RabbitMQ 3.x counts every return), so a job held by workers that kept
   * being stopped, as in a rolling update, would be parked without having
   * run. The copy waits at the back of the queue. Resolves false (the original
   * is requeued instead) when it cannot be sent.
   */
  private handBack(
    message: ConsumeMessage,
    context: AmqpContext,
    queue: string,
  ): Promise<boolean> {
    return this.sendCopy(message, queue, {
      [RetryHeaders.priorDeliveries]: context.deliveryNumber - 1,
    });
  }

  /**
   * Publishes a copy of the message, its headers updated with `headers`, to
   * `queue`, and resolves true once the broker confirmed it. The copy is
   * mandatory: with its queue missing it is returned, and false says the
   * original must be requeued rather than acked.
   */
  private async sendCopy(
    message: ConsumeMessage,
    queue: string,
    headers: Record<string, unknown>,
  ): Promise<boolean> {
    const channel = this.retryChannel;
    if (!channel) return false;
    const { properties } = message;
    const {
      'x-delivery-count': _count,
      'x-death': _death,
      ...kept
    } = properties.headers ?? {};
    const options = {
      messageId: textProperty(properties.messageId),
      type: textProperty(properties.type),
      contentType: textProperty(properties.contentType),
      correlationId: textProperty(properties.correlationId),
      timestamp:
        typeof properties.timestamp === 'number'
          ? properties.timestamp
          : undefined,
      headers: { ...kept, ...headers },
    };
    try {
      await this.retryPublishes.send(
        channel,
        '',
        queue,
        message.content,
        options,
        this.options.publishTimeoutMs ?? 5000,
        () =>
          this.retryRenewal.renew(
            channel,
            this.retryChannel,
            this.connection.current,
          ),
      );
      return true;
    } catch (error) {
      this.logger.warn(
        `Could not send message ${properties.messageId} to ${queue}: ${(error as Error).message}`,
      );
      return false;
    }
  }

  /**
   * Stops taking messages, lets in-flight handlers finish (up to the grace
   * period), then closes.
   */
  async close(): Promise<void> {
    this.stopping = true;
    const attached = [...this.attached.values()];
    for (const { channel, consumerTag } of attached)
      await channel.cancel(consumerTag).catch(() => undefined);
    this.markConsumersCancelled();
    if (this.inFlight > 0) {
      let timer: NodeJS.Timeout | undefined;
      const graceOver = new Promise<void>(
        (resolve) =>
          (timer = setTimeout(resolve, this.options.shutdownGraceMs)),
      );
      await Promise.race([
        new Promise<void>((resolve) => (this.drained = resolve)),
        graceOver,
      ]);
      // A pending grace timer would keep the process alive after everything
      // else has closed.
      clearTimeout(timer);
    }
    for (const { channel } of attached)
      await channel.close().catch(() => undefined);
    this.attached.clear();
    await this.retryChannel?.close().catch(() => undefined);
    this.retryChannel = null;
  }

  on(): void {
    // Connection events are handled by AmqpConnection.
  }

  unwrap<T>(): T {
    return this.connection as T;
  }
}
