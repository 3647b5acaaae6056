import { GetMessage } from 'amqplib';
import { AmqpConnection } from './amqp-connection';
import { BrokerUnavailableError } from './errors';
import { queueDepths } from './queue-depths';

/** What to do with one parked message: it was dealt with (and leaves the queue), or it stays. */
export type DeadLetterDecision = 'done' | { keep: string };

export interface DeadLetterReport {
  /** messageIds of the messages dealt with. */
  done: string[];
  /** Messages left in the queue, with why. */
  kept: Array<{ messageId: string; reason: string }>;
}

/**
 * Operator access to a dead-letter queue: count its messages, and go through them one by one
 * (replay or purge). A message leaves the queue only once its decision has been carried out;
 * kept ones are returned to the queue afterwards, so one pass sees each message once.
 */
export class DeadLetterQueue {
  constructor(
    private readonly connection: AmqpConnection,
    readonly queue: string,
  ) {}

  async count(): Promise<number> {
    const [depth] = await queueDepths(this.connection, [this.queue]);
    return depth.ready;
  }

  /** Hands each message (up to `limit`) to `decide`; an error from it stops the pass and leaves that message parked. */
  async drain(limit: number, decide: (message: GetMessage) => Promise<DeadLetterDecision>): Promise<DeadLetterReport> {
    const model = this.connection.current;
    if (!model) throw new BrokerUnavailableError('not connected to RabbitMQ');
    const channel = await model.createChannel();
    const report: DeadLetterReport = { done: [], kept: [] };
    const held: GetMessage[] = [];
    try {
      while (report.done.length + held.length < limit) {
        const message = await channel.get(this.queue, { noAck: false });
        if (message === false) break;
        const messageId = String(message.properties.messageId ?? '');
        let decision: DeadLetterDecision;
        try {
          decision = await decide(message);
        } catch (error) {
          held.push(message);
          report.kept.push({ messageId, reason: (error as Error).message });
          break;
        }
        if (decision === 'done') {
          channel.ack(message);
          report.done.push(messageId);
        } else {
          held.push(message);
          report.kept.push({ messageId, reason: decision.keep });
        }
      }
    } finally {
      for (const message of held) channel.nack(message, false, true);
      await channel.close().catch(() => undefined);
    }
    return report;
  }
}
