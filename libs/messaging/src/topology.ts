import { Logger } from '@nestjs/common';
import { MessageType } from '@pipeline/contracts';
import { DEFAULT_RETRY_DELAYS_MS } from '@pipeline/platform';
import { Channel, ChannelModel } from 'amqplib';

/**
 * A delay queue: messages wait there `delayMs`, then the broker dead-letters
 * them back to their queue.
 */
export interface RetryTier {
  queue: string;
  delayMs: number;
}

/**
 * Deliveries of a parked message before the broker would drop it: in effect
 * never. Explicit because RabbitMQ 4 gives quorum queues a limit of 20 by
 * default, and a dead-letter queue has no dead-letter queue of its own: an
 * operator looking at a parked message (and leaving it) 20 times would lose it
 * there.
 */
export const PARKED_DELIVERY_LIMIT = 1_000_000;

export interface TopologyOptions {
  /**
   * Members of each quorum queue when it is created
   * (`x-quorum-initial-group-size`); 0 or unset leaves it to the broker, which
   * puts a member on every cluster node (RabbitMQ 3.x).
   */
  quorumInitialGroupSize?: number;
}

/** A queue and the arguments it is declared with. */
export interface QueueDeclaration {
  queue: string;
  arguments: Record<string, unknown>;
  /**
   * Arguments given only to a queue being created: one that exists without
   * them, or with other values (made by an earlier version, or under another
   * setting), keeps what it has.
   */
  creationOnly: string[];
}

const INITIAL_GROUP_SIZE = 'x-quorum-initial-group-size';

// The modes of AMQP_TOPOLOGY and the default retry delays are settings.
export { DEFAULT_RETRY_DELAYS_MS, TOPOLOGY_MODES } from '@pipeline/platform';
export type { TopologyMode } from '@pipeline/platform';

/** The delay queue of the jobs queue for one delay. */
export function retryQueueName(
  prefix: string,
  delayMs: number | string,
): string {
  return `${prefix}.jobs.retry.${delayMs}ms`;
}

/** An exchange or queue a check found missing. */
export class MissingTopologyError extends Error {
  constructor(
    readonly kind: 'exchange' | 'queue',
    readonly name: string,
    vhost: string,
  ) {
    super(
      `RabbitMQ has no ${kind} ${name} in vhost ${vhost}: this app only checks the topology (AMQP_TOPOLOGY=check), so the app that declares it (AMQP_TOPOLOGY=declare) must have connected first`,
    );
  }
}

/**
 * Names of the exchanges and queues of one pipeline, all under a common prefix.
 */
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
    /**
     * Deliveries of one message before it is parked; RabbitMQ 3.x has no limit
     * unless one is set.
     */
    readonly deliveryLimit: number,
    retryDelaysMs: readonly number[] = DEFAULT_RETRY_DELAYS_MS,
    readonly options: TopologyOptions = {},
  ) {
    this.exchange = prefix;
    this.deadLetterExchange = `${prefix}.dlx`;
    this.jobsQueue = `${prefix}.jobs`;
    this.eventsQueue = `${prefix}.events`;
    this.jobsDeadLetterQueue = `${prefix}.jobs.dead`;
    this.eventsDeadLetterQueue = `${prefix}.events.dead`;
    this.jobRetryTiers = retryDelaysMs.map((delayMs) => ({
      queue: retryQueueName(prefix, delayMs),
      delayMs,
    }));
  }

  /**
   * The delay queue for a message retried `retries` times before: longer waits
   * as retries add up.
   */
  retryTier(retries: number): RetryTier | undefined {
    return this.jobRetryTiers[Math.min(retries, this.jobRetryTiers.length - 1)];
  }

  /**
   * Queue each message type is routed to; the routing key is the message type.
   */
  get routes(): Array<{
    queue: string;
    deadLetterQueue: string;
    routingKeys: MessageType[];
  }> {
    return [
      {
        queue: this.jobsQueue,
        deadLetterQueue: this.jobsDeadLetterQueue,
        routingKeys: [MessageType.imageJob],
      },
      {
        queue: this.eventsQueue,
        deadLetterQueue: this.eventsDeadLetterQueue,
        routingKeys: [MessageType.jobEvent, MessageType.workerHeartbeat],
      },
    ];
  }

  get queues(): string[] {
    return [
      ...this.routes.flatMap((route) => [route.queue, route.deadLetterQueue]),
      ...this.jobRetryTiers.map((tier) => tier.queue),
    ];
  }

  /** Arguments every quorum queue of the topology shares. */
  private quorumArguments(): Record<string, unknown> {
    const size = this.options.quorumInitialGroupSize ?? 0;
    return {
      'x-queue-type': 'quorum',
      ...(size > 0 ? { [INITIAL_GROUP_SIZE]: size } : {}),
    };
  }

  /**
   * Every queue with the arguments it is declared with. All are quorum queues
   * (replicated, durable) with an explicit delivery limit: the jobs and events
   * queues park a message after `deliveryLimit` deliveries; the delay queues
   * are never consumed (their messages leave when their time is up) and carry
   * the same limit; the dead-letter queues never drop anything. Dead-lettering
   * is at-least-once, which needs reject-publish overflow.
   */
  get declarations(): QueueDeclaration[] {
    const quorum = this.quorumArguments();
    const queues: QueueDeclaration[] = [];
    // The delay and dead-letter queues' limits came later than the queues: an
    // older queue keeps none.
    const limitAddedLater = [INITIAL_GROUP_SIZE, 'x-delivery-limit'];
    for (const route of this.routes) {
      queues.push({
        queue: route.deadLetterQueue,
        arguments: { ...quorum, 'x-delivery-limit': PARKED_DELIVERY_LIMIT },
        creationOnly: limitAddedLater,
      });
      queues.push({
        queue: route.queue,
        arguments: {
          ...quorum,
          'x-delivery-limit': this.deliveryLimit,
          'x-dead-letter-exchange': this.deadLetterExchange,
          'x-dead-letter-routing-key': route.deadLetterQueue,
          'x-dead-letter-strategy': 'at-least-once',
          'x-overflow': 'reject-publish',
        },
        creationOnly: [INITIAL_GROUP_SIZE],
      });
    }
    // Published to by name through the default exchange; when a message's time
    // is up the broker routes it back through the main exchange to the jobs
    // queue.
    for (const tier of this.jobRetryTiers) {
      queues.push({
        queue: tier.queue,
        arguments: {
          ...quorum,
          'x-delivery-limit': this.deliveryLimit,
          'x-message-ttl': tier.delayMs,
          'x-dead-letter-exchange': this.exchange,
          'x-dead-letter-routing-key': MessageType.imageJob,
          'x-dead-letter-strategy': 'at-least-once',
          'x-overflow': 'reject-publish',
        },
        creationOnly: limitAddedLater,
      });
    }
    return queues;
  }

  /**
   * Declares everything (idempotent; every app does it on every connect), on
   * channels of its own. A queue that exists with other values of creation-only
   * arguments (e.g. the initial group size, changed after the queue was made)
   * is declared again without them, and if that is refused too, only checked
   * for existence: it keeps its members (`rabbitmq-queues grow` / `shrink`
   * change them). Any other difference still fails, as it should.
   */
  async declare(model: Pick<ChannelModel, 'createChannel'>): Promise<void> {
    let channel = await openQuietly(model);
    try {
      await channel.assertExchange(this.exchange, 'direct', { durable: true });
      await channel.assertExchange(this.deadLetterExchange, 'direct', {
        durable: true,
      });
      for (const declaration of this.declarations)
        channel = await this.assertQueue(model, channel, declaration);
      for (const route of this.routes) {
        await channel.bindQueue(
          route.deadLetterQueue,
          this.deadLetterExchange,
          route.deadLetterQueue,
        );
        for (const routingKey of route.routingKeys)
          await channel.bindQueue(route.queue, this.exchange, routingKey);
      }
    } finally {
      await channel.close().catch(() => undefined);
    }
  }

  /**
   * Checks, without declaring anything (passive declarations, which need no
   * permission), that every exchange and queue exists; throws
   * MissingTopologyError naming the first one missing. Bindings cannot be
   * checked passively: a missing one shows as an unroutable publish.
   */
  async check(model: Pick<ChannelModel, 'createChannel'>): Promise<void> {
    const checks: Array<{ kind: 'exchange' | 'queue'; name: string }> = [
      { kind: 'exchange', name: this.exchange },
      { kind: 'exchange', name: this.deadLetterExchange },
      ...this.queues.map((name) => ({ kind: 'queue' as const, name })),
    ];
    const channel = await openQuietly(model);
    try {
      for (const { kind, name } of checks) {
        try {
          if (kind === 'exchange') await channel.checkExchange(name);
          else await channel.checkQueue(name);
        } catch (error) {
          const missing = /NOT_FOUND/.exec(
            String((error as Error)?.message ?? ''),
          );
          if (!missing) throw error;
          const vhost =
            /in vhost '([^']*)'/.exec(String((error as Error).message))?.[1] ??
            '?';
          throw new MissingTopologyError(kind, name, vhost);
        }
      }
    } finally {
      await channel.close().catch(() => undefined);
    }
  }

  /**
   * Declares one queue; returns the channel to go on with (a new one when the
   * broker closed the first).
   */
  private async assertQueue(
    model: Pick<ChannelModel, 'createChannel'>,
    channel: Channel,
    { queue, arguments: args, creationOnly }: QueueDeclaration,
  ): Promise<Channel> {
    try {
      await channel.assertQueue(queue, { durable: true, arguments: args });
      return channel;
    } catch (error) {
      if (!isInequivalentArgument(error, creationOnly)) throw error;
    }
    const without = Object.fromEntries(
      Object.entries(args).filter(([name]) => !creationOnly.includes(name)),
    );
    const kept = creationOnly.filter((name) => name in args).join(', ');
    channel = await openQuietly(model);
    try {
      await channel.assertQueue(queue, { durable: true, arguments: without });
    } catch (error) {
      if (!isInequivalentArgument(error, creationOnly)) throw error;
      channel = await openQuietly(model);
      await channel.checkQueue(queue);
    }
    new Logger(Topology.name).warn(
      `Queue ${queue} exists with other values of ${kept} than configured; it keeps its own (they apply only when a queue is created)`,
    );
    return channel;
  }
}

/**
 * A channel for declarations: one the broker refuses closes it with an error,
 * which the failed call reports.
 */
async function openQuietly(
  model: Pick<ChannelModel, 'createChannel'>,
): Promise<Channel> {
  const channel = await model.createChannel();
  channel.on('error', () => undefined);
  return channel;
}

/**
 * The broker refused a declaration because the queue exists with another value
 * of one of `names`.
 */
function isInequivalentArgument(error: unknown, names: string[]): boolean {
  const message = String((error as Error)?.message ?? '');
  return (
    message.includes('PRECONDITION_FAILED') &&
    names.some((name) => message.includes(`inequivalent arg '${name}'`))
  );
}
