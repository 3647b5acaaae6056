import { ArgumentsHost, Catch, Logger } from '@nestjs/common';
import { BaseExceptionFilter } from '@nestjs/core';
import { BaseRpcContext, CustomTransportStrategy, Server } from '@nestjs/microservices';
import { ValidationFailed } from '@pipeline/contracts';
import { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import { lastValueFrom, Observable, throwError } from 'rxjs';
import { AmqpConnection } from './amqp-connection';
import { PermanentMessageError } from './errors';

export interface QueueConsumer {
  queue: string;
  /** Unacked messages this consumer may hold; also how many handlers run at once. */
  prefetch: number;
}

export interface AmqpTransportOptions {
  consumers: QueueConsumer[];
  /** Pause before a message whose handler failed transiently goes back to the queue. */
  retryDelayMs: number;
  /** Longest wait for in-flight handlers when the app shuts down. */
  shutdownGraceMs: number;
}

/** What a handler gets besides the payload: the raw delivery. */
export class AmqpContext extends BaseRpcContext<[ConsumeMessage]> {
  get message(): ConsumeMessage {
    return this.args[0];
  }

  /** 1 for the first delivery; quorum queues count redeliveries in `x-delivery-count`. */
  get deliveryNumber(): number {
    const count = Number(this.message.properties.headers?.['x-delivery-count'] ?? 0);
    return (Number.isFinite(count) ? count : 0) + 1;
  }
}

/**
 * Nest's default RPC exception filter replaces every error with a generic one. The transport
 * needs the original to tell a permanent failure from a transient one, so apps that consume
 * messages install this filter globally; HTTP errors still go to Nest's usual handling.
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
 * A Nest microservice transport on amqplib with the guarantees @nestjs/microservices' own
 * RMQ transport lacks: manual acks sent only when the handler has finished, bounded
 * prefetch, parking of poison messages, and a shutdown that drains in-flight work.
 * Handlers are `@EventPattern(type)` methods, dispatched on the message's `type` property.
 */
export class AmqpTransport extends Server implements CustomTransportStrategy {
  protected readonly logger = new Logger(AmqpTransport.name);
  private readonly consumers: Array<{ channel: Channel; consumerTag: string }> = [];
  private inFlight = 0;
  private drained?: () => void;
  private stopping = false;

  constructor(
    private readonly connection: AmqpConnection,
    private readonly options: AmqpTransportOptions,
  ) {
    super();
  }

  listen(callback: (error?: unknown) => void): void {
    this.connection.onConnect((model) => this.attach(model)).then(() => callback(), callback);
  }

  private async attach(model: ChannelModel): Promise<void> {
    if (this.stopping) return;
    this.consumers.length = 0;
    for (const { queue, prefetch } of this.options.consumers) {
      const channel = await model.createChannel();
      channel.on('error', (error: Error) => this.logger.warn(`Consumer channel for ${queue}: ${error.message}`));
      await channel.prefetch(prefetch);
      const { consumerTag } = await channel.consume(queue, (message) => void this.handle(channel, queue, message), { noAck: false });
      this.consumers.push({ channel, consumerTag });
      this.logger.log(`Consuming ${queue} (prefetch ${prefetch})`);
    }
  }

  private settle(channel: Channel, message: ConsumeMessage, outcome: 'ack' | 'requeue' | 'park'): void {
    try {
      if (outcome === 'ack') channel.ack(message);
      else channel.nack(message, false, outcome === 'requeue');
    } catch (error) {
      // The channel closed under us: the broker hands the message out again, nothing is lost.
      this.logger.warn(`Could not ${outcome} message ${message.properties.messageId}: ${(error as Error).message}`);
    }
  }

  private async handle(channel: Channel, queue: string, message: ConsumeMessage | null): Promise<void> {
    if (message === null) {
      this.logger.error(`RabbitMQ cancelled the consumer of ${queue}`);
      return;
    }
    this.inFlight++;
    try {
      this.settle(channel, message, await this.dispatch(message));
    } finally {
      this.inFlight--;
      if (this.inFlight === 0) this.drained?.();
    }
  }

  private async dispatch(message: ConsumeMessage): Promise<'ack' | 'requeue' | 'park'> {
    const { type, messageId } = message.properties;
    const handler = this.getHandlerByPattern(String(type));
    if (!handler) {
      this.logger.error(`Parking message ${messageId}: no handler for type ${JSON.stringify(type)}`);
      return 'park';
    }
    let payload: unknown;
    try {
      payload = JSON.parse(message.content.toString('utf8'));
    } catch (error) {
      this.logger.error(`Parking message ${messageId}: body is not JSON (${(error as Error).message})`);
      return 'park';
    }
    try {
      await lastValueFrom(this.transformToObservable(await handler(payload, new AmqpContext([message]))), { defaultValue: undefined });
      return 'ack';
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      if (error instanceof PermanentMessageError || error instanceof ValidationFailed) {
        this.logger.error(`Parking message ${messageId} (${type}): ${reason}`);
        return 'park';
      }
      this.logger.warn(`Handler for ${type} failed on message ${messageId}, will be redelivered: ${reason}`);
      await sleep(this.options.retryDelayMs);
      return 'requeue';
    }
  }

  /** Stops taking messages, lets in-flight handlers finish (up to the grace period), then closes. */
  async close(): Promise<void> {
    this.stopping = true;
    for (const { channel, consumerTag } of this.consumers) await channel.cancel(consumerTag).catch(() => undefined);
    if (this.inFlight > 0) {
      let timer: NodeJS.Timeout | undefined;
      const graceOver = new Promise<void>((resolve) => (timer = setTimeout(resolve, this.options.shutdownGraceMs)));
      await Promise.race([new Promise<void>((resolve) => (this.drained = resolve)), graceOver]);
      // A pending grace timer would keep the process alive after everything else has closed.
      clearTimeout(timer);
    }
    for (const { channel } of this.consumers) await channel.close().catch(() => undefined);
    this.consumers.length = 0;
  }

  on(): void {
    // Connection events are handled by AmqpConnection.
  }

  unwrap<T>(): T {
    return this.connection as T;
  }
}
