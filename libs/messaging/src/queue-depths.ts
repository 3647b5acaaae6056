import { AmqpConnection } from './amqp-connection';
import { BrokerUnavailableError } from './errors';

export interface QueueDepth {
  queue: string;
  /**
   * Messages waiting to be delivered (not those delivered and not yet acked).
   */
  ready: number;
  consumers: number;
}

/**
 * How many messages wait in each queue, and how many consumers each has, as the
 * broker says now.
 */
export async function queueDepths(
  connection: AmqpConnection,
  queues: string[],
): Promise<QueueDepth[]> {
  const model = connection.current;
  if (!model) throw new BrokerUnavailableError('not connected to RabbitMQ');
  const channel = await model.createChannel();
  try {
    const depths: QueueDepth[] = [];
    for (const queue of queues) {
      const { messageCount, consumerCount } = await channel.checkQueue(queue);
      depths.push({ queue, ready: messageCount, consumers: consumerCount });
    }
    return depths;
  } finally {
    await channel.close().catch(() => undefined);
  }
}
