import { MessageType } from '@pipeline/contracts';
import { Channel } from 'amqplib';

/** Waits before a job that failed transiently is tried again: one delay queue each. */
export const DEFAULT_RETRY_DELAYS_MS: readonly number[] = [1000, 10_000, 60_000];

/** A delay queue: messages wait there `delayMs`, then the broker dead-letters them back to their queue. */
export interface RetryTier {
  queue: string;
  delayMs: number;
}

/** Names of the exchanges and queues of one pipeline, all under a common prefix. */
export class Topology {
  readonly exchange: string;
  readonly deadLetterExchange: string;
  readonly jobsQueue: string;
  readonly eventsQueue: string;
  readonly jobsDeadLetterQueue: string;
  readonly eventsDeadLetterQueue: string;
  /** Delay queues of the jobs queue, shortest first. */
  readonly jobRetryTiers: RetryTier[];

  constructor(
    readonly prefix: string,
    /** Deliveries of one message before it is parked; RabbitMQ 3.x has no limit unless one is set. */
    readonly deliveryLimit: number,
    retryDelaysMs: readonly number[] = DEFAULT_RETRY_DELAYS_MS,
  ) {
    this.exchange = prefix;
    this.deadLetterExchange = `${prefix}.dlx`;
    this.jobsQueue = `${prefix}.jobs`;
    this.eventsQueue = `${prefix}.events`;
    this.jobsDeadLetterQueue = `${prefix}.jobs.dead`;
    this.eventsDeadLetterQueue = `${prefix}.events.dead`;
    this.jobRetryTiers = retryDelaysMs.map((delayMs) => ({ queue: `${prefix}.jobs.retry.${delayMs}ms`, delayMs }));
  }

  /** The delay queue for a message retried `retries` times before: longer waits as retries add up. */
  retryTier(retries: number): RetryTier | undefined {
    return this.jobRetryTiers[Math.min(retries, this.jobRetryTiers.length - 1)];
  }

  /** Queue each message type is routed to; the routing key is the message type. */
  get routes(): Array<{ queue: string; deadLetterQueue: string; routingKeys: MessageType[] }> {
    return [
      { queue: this.jobsQueue, deadLetterQueue: this.jobsDeadLetterQueue, routingKeys: [MessageType.imageJob] },
      { queue: this.eventsQueue, deadLetterQueue: this.eventsDeadLetterQueue, routingKeys: [MessageType.jobEvent, MessageType.workerHeartbeat] },
    ];
  }

  get queues(): string[] {
    return [...this.routes.flatMap((route) => [route.queue, route.deadLetterQueue]), ...this.jobRetryTiers.map((tier) => tier.queue)];
  }

  /**
   * Declares everything (idempotent; every app does it on every connect). Quorum queues are
   * replicated and durable; dead-lettering is at-least-once, which needs reject-publish overflow.
   */
  async declare(channel: Channel): Promise<void> {
    await channel.assertExchange(this.exchange, 'direct', { durable: true });
    await channel.assertExchange(this.deadLetterExchange, 'direct', { durable: true });
    for (const route of this.routes) {
      await channel.assertQueue(route.deadLetterQueue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
      await channel.bindQueue(route.deadLetterQueue, this.deadLetterExchange, route.deadLetterQueue);
      await channel.assertQueue(route.queue, {
        durable: true,
        arguments: {
          'x-queue-type': 'quorum',
          'x-delivery-limit': this.deliveryLimit,
          'x-dead-letter-exchange': this.deadLetterExchange,
          'x-dead-letter-routing-key': route.deadLetterQueue,
          'x-dead-letter-strategy': 'at-least-once',
          'x-overflow': 'reject-publish',
        },
      });
      for (const routingKey of route.routingKeys) await channel.bindQueue(route.queue, this.exchange, routingKey);
    }
    // Published to by name through the default exchange; when a message's time is up the broker
    // routes it back through the main exchange to the jobs queue.
    for (const tier of this.jobRetryTiers) {
      await channel.assertQueue(tier.queue, {
        durable: true,
        arguments: {
          'x-queue-type': 'quorum',
          'x-message-ttl': tier.delayMs,
          'x-dead-letter-exchange': this.exchange,
          'x-dead-letter-routing-key': MessageType.imageJob,
          'x-dead-letter-strategy': 'at-least-once',
          'x-overflow': 'reject-publish',
        },
      });
    }
  }
}
