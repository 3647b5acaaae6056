import { GetMessage } from 'amqplib';
import { AmqpConnection } from './amqp-connection';
import { BrokerUnavailableError } from './errors';
import { queueDepths } from './queue-depths';

/**
 * What to do with one parked message: it was dealt with (and leaves the queue),
 * it stays, or it is dropped unused (it leaves the queue; e.g. it is of a run
 * that is over), each with why.
 */
export type DeadLetterDecision = 'done' | { keep: string } | { drop: string };

export interface DeadLetterReport {
  /** messageIds of the messages dealt with. */
  done: string[];
  /** Messages left in the queue, with why. */
  kept: Array<{ messageId: string; reason: string }>;
  /** Messages taken out of the queue without being acted on, with why. */
  dropped: Array<{ messageId: string; reason: string }>;
  /**
   * Why the pass ended before the queue or the limit did (the channel closed,
   * an error); absent when it did not.
   */
  stoppedBecause?: string;
}

/**
 * Operator access to a dead-letter queue: count its messages, and go through
 * them one by one (replay or purge). A message leaves the queue only once its
 * decision has been carried out; kept ones are returned to the queue
 * afterwards, so one pass sees each message once.
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

  /**
   * Hands each message (up to `limit`) to `decide`. The pass stops, saying why
   * in the report, when `decide` throws (that message stays parked) or the
   * channel goes away: a message whose decision was carried out but that could
   * not be acked is reported as done, and comes back to the queue with the
   * channel, so a later pass sees it again. Throws only when not connected.
   */
  async drain(
    limit: number,
    decide: (message: GetMessage) => Promise<DeadLetterDecision>,
  ): Promise<DeadLetterReport> {
    const model = this.connection.current;
    if (!model) throw new BrokerUnavailableError('not connected to RabbitMQ');
    const channel = await model.createChannel();
    // Without a listener, an error the broker closes the channel with would be
    // thrown at the connection.
    channel.on('error', () => undefined);
    const report: DeadLetterReport = { done: [], kept: [], dropped: [] };
    const held: GetMessage[] = [];
    try {
      while (report.done.length + report.dropped.length + held.length < limit) {
        let message: GetMessage | false;
        try {
          message = await channel.get(this.queue, { noAck: false });
        } catch (error) {
          report.stoppedBecause = `the channel to RabbitMQ closed: ${(error as Error).message}`;
          break;
        }
        if (message === false) break;
        const messageId = String(message.properties.messageId ?? '');
        let decision: DeadLetterDecision;
        try {
          decision = await decide(message);
        } catch (error) {
          held.push(message);
          report.kept.push({ messageId, reason: (error as Error).message });
          report.stoppedBecause = (error as Error).message;
          break;
        }
        if (decision !== 'done' && 'keep' in decision) {
          held.push(message);
          report.kept.push({ messageId, reason: decision.keep });
          continue;
        }
        if (decision === 'done') report.done.push(messageId);
        else report.dropped.push({ messageId, reason: decision.drop });
        const unacked = settle(() => channel.ack(message));
        if (unacked) {
          report.stoppedBecause = `the channel to RabbitMQ closed before message ${messageId} could be taken out of the queue (${unacked}); it is back in the queue, and a later pass finds it again`;
          break;
        }
      }
    } finally {
      // On a closed channel nothing needs returning: the broker puts back what
      // it had not seen acked.
      for (const message of held)
        if (settle(() => channel.nack(message, false, true))) break;
      await channel.close().catch(() => undefined);
    }
    return report;
  }
}

/**
 * Runs an ack or nack; the error's message if the channel was closed under it,
 * else null.
 */
function settle(operation: () => void): string | null {
  try {
    operation();
    return null;
  } catch (error) {
    return (error as Error).message;
  }
}
