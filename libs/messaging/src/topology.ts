import { MessageType } from '@pipeline/contracts';
import { Channel } from 'amqplib';

/** Names of the exchanges and queues of one pipeline, all under a common prefix. */
export class Topology {
  readonly exchange: string;
  readonly deadLetterExchange: string;
  readonly jobsQueue: string;
  readonly eventsQueue: string;
  readonly jobsDeadLetterQueue: string;
  readonly eventsDeadLetterQueue: string;

  constructor(
    readonly prefix: string,
    /** Deliveries of one message before it is parked; RabbitMQ 3.x has no limit unless one is set. */
    readonly deliveryLimit: number,
  ) {
    this.exchange = prefix;
    this.deadLetterExchange = `${prefix}.dlx`;
    this.jobsQueue = `${prefix}.jobs`;
    this.eventsQueue = `${prefix}.events`;
    this.jobsDeadLetterQueue = `${prefix}.jobs.dead`;
    this.eventsDeadLetterQueue = `${prefix}.events.dead`;
  }

  /** Queue each message type is routed to; the routing key is the message type. */
  get routes(): Array<{ queue: string; deadLetterQueue: string; routingKey: MessageType }> {
    return [
      { queue: this.jobsQueue, deadLetterQueue: this.jobsDeadLetterQueue, routingKey: MessageType.imageJob },
      { queue: this.eventsQueue, deadLetterQueue: this.eventsDeadLetterQueue, routingKey: MessageType.jobEvent },
    ];
  }

  get queues(): string[] {
    return this.routes.flatMap((route) => [route.queue, route.deadLetterQueue]);
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
      await channel.bindQueue(route.queue, this.exchange, route.routingKey);
    }
  }
}
