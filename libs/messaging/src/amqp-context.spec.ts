import { ConsumeMessage } from 'amqplib';
import { AmqpContext, RetryHeaders } from './amqp-transport';

function contextWith(
  headers: Record<string, unknown>,
  maxTries?: number,
): AmqpContext {
  const message = {
    content: Buffer.alloc(0),
    fields: {},
    properties: { headers },
  } as unknown as ConsumeMessage;
  return new AmqpContext([message, maxTries]);
}

describe('AmqpContext counts', () => {
  it('starts at the first try and the first delivery', () => {
    const context = contextWith({});
    expect(context.tryNumber).toBe(1);
    expect(context.deliveryNumber).toBe(1);
  });

  it('counts tries from the x-tries header, redeliveries not among them', () => {
    const context = contextWith({
      [RetryHeaders.tries]: 2,
      [RetryHeaders.priorDeliveries]: 3,
      'x-delivery-count': 1,
    });
    expect(context.tryNumber).toBe(3);
    expect(context.deliveryNumber).toBe(5);
  });

  it('reads the tries of a copy that waited under the former header name', () => {
    expect(contextWith({ [RetryHeaders.formerTries]: 2 }).tryNumber).toBe(3);
  });

  it('judges the last try by the consumer limit', () => {
    expect(contextWith({ [RetryHeaders.tries]: 3 }, 4).isLastTry).toBe(true);
    expect(contextWith({ [RetryHeaders.tries]: 2 }, 4).isLastTry).toBe(false);
    expect(contextWith({}, undefined).isLastTry).toBe(true);
  });
});
