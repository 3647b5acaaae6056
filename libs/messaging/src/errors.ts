/**
 * The broker did not take the message: unreachable, blocked, or no confirm in
 * time.
 */
export class BrokerUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BrokerUnavailableError';
  }
}

/**
 * The broker returned a mandatory message: no queue is bound for its routing
 * key.
 */
export class UnroutableMessageError extends Error {
  constructor(routingKey: string) {
    super(`No queue is bound for routing key ${routingKey}`);
    this.name = 'UnroutableMessageError';
  }
}

/**
 * Thrown by a message handler for a message that no retry can fix. The
 * transport parks it in the dead-letter queue instead of handing it out again.
 */
export class PermanentMessageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PermanentMessageError';
  }
}

/**
 * Thrown by a handler whose work is done but whose outcome the broker did not
 * take (an alarm, no confirm, a nack, a return). The transport then requeues
 * the message, whatever its try number: parking it or sending it to a delay
 * queue would leave the outcome unrecorded.
 */
export class OutcomeNotPublishedError extends Error {
  constructor(cause: unknown) {
    super(
      `the outcome could not be published, the message must be redelivered: ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause },
    );
    this.name = 'OutcomeNotPublishedError';
  }
}

/**
 * Thrown by a handler that gives its message back without having started on
 * it, while the process stops. As soon as it has cancelled its consumers, the
 * transport puts a copy back in the queue for another consumer to take, with
 * no try or delivery counted, and acks the original; it requeues the original
 * when it cannot (no confirm channel, or the broker refused the copy).
 */
export class NotStartedError extends Error {
  constructor(reason: string) {
    super(`not started, handed back: ${reason}`);
    this.name = 'NotStartedError';
  }
}
