/** The broker did not take the message: unreachable, blocked, or no confirm in time. */
export class BrokerUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BrokerUnavailableError';
  }
}

/** The broker returned a mandatory message: no queue is bound for its routing key. */
export class UnroutableMessageError extends Error {
  constructor(routingKey: string) {
    super(`No queue is bound for routing key ${routingKey}`);
    this.name = 'UnroutableMessageError';
  }
}

/**
 * Thrown by a message handler for a message that no retry can fix. The transport parks it
 * in the dead-letter queue instead of handing it out again.
 */
export class PermanentMessageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PermanentMessageError';
  }
}
