import { MessageType } from '@pipeline/contracts';
import { ChannelModel, ConfirmChannel } from 'amqplib';
import { EventEmitter } from 'node:events';
import { AmqpConnection } from './amqp-connection';
import { PublishOptions } from './confirmed-publish';
import { BrokerUnavailableError, UnroutableMessageError } from './errors';
import { MessagePublisher } from './message-publisher';

/**
 * A confirm channel that answers when told to, in the order a test needs:
 * basic.return and confirms arriving late or interleaved between channels,
 * which a live broker makes rare and untimeable.
 */
class ScriptedChannel extends EventEmitter {
  readonly sent: Array<{
    routingKey: string;
    options: PublishOptions;
    confirm: (error: unknown) => void;
  }> = [];

  publish(
    _exchange: string,
    routingKey: string,
    _content: Buffer,
    options: PublishOptions,
    confirm: (error: unknown) => void,
  ): boolean {
    this.sent.push({ routingKey, options, confirm });
    return true;
  }

  /**
   * The broker sends the `index`th message back as unroutable (basic.return).
   */
  returnMessage(index: number): void {
    const { routingKey, options } = this.sent[index];
    this.emit('return', {
      content: Buffer.alloc(0),
      fields: { routingKey },
      properties: { messageId: options.messageId, headers: options.headers },
    });
  }

  async close(): Promise<void> {}
}

function scriptedBroker() {
  const channels: ScriptedChannel[] = [];
  const model = {
    createConfirmChannel: () => {
      const channel = new ScriptedChannel();
      channels.push(channel);
      return Promise.resolve(channel as unknown as ConfirmChannel);
    },
  } as unknown as ChannelModel;
  const connection = {
    blocked: false,
    current: model,
    topology: { exchange: 'pipeline' },
    onConnect: async (hook: (m: ChannelModel) => Promise<void>) => hook(model),
  } as unknown as AmqpConnection;
  return { channels, connection };
}

const settled = (promise: Promise<unknown>) =>
  promise.then(
    () => 'resolved',
    (error: Error) => error.name,
  );

describe('MessagePublisher and basic.return', () => {
  it('ignores a return that comes after its publish timed out: a later publish of the same id is not called unroutable', async () => {
    const { channels, connection } = scriptedBroker();
    const publisher = new MessagePublisher(connection, 50);
    await publisher.start();
    const [channel] = channels;

    await expect(
      publisher.publish(MessageType.imageJob, 'job-1', { n: 1 }),
    ).rejects.toBeInstanceOf(BrokerUnavailableError);
    channel.returnMessage(0);

    const again = publisher.publish(MessageType.imageJob, 'job-1', { n: 1 });
    channel.sent[1].confirm(null);
    await expect(again).resolves.toBeUndefined();
  });

  it('tells apart two publishes of one id on two channels: the return of one does not fail the other', async () => {
    const { channels, connection } = scriptedBroker();
    const publisher = new MessagePublisher(connection, 5000);
    await publisher.start();
    const [stale] = channels;

    const first = publisher.publish(MessageType.imageJob, 'job-1', { n: 1 });
    // A nack of another message has the publisher open a new channel for what
    // follows.
    const nacked = publisher.publish(MessageType.jobEvent, 'event-1', { n: 2 });
    stale.sent[1].confirm(new Error('message nacked'));
    await expect(nacked).rejects.toBeInstanceOf(BrokerUnavailableError);
    await waitForChannels(channels, 2);
    const fresh = channels[1];

    const second = publisher.publish(MessageType.imageJob, 'job-1', { n: 1 });
    stale.returnMessage(0);
    fresh.sent[0].confirm(null);
    stale.sent[0].confirm(null);
    expect(await settled(second)).toBe('resolved');
    expect(await settled(first)).toBe(
      new UnroutableMessageError(MessageType.imageJob).name,
    );
  });
});

async function waitForChannels(
  channels: ScriptedChannel[],
  count: number,
): Promise<void> {
  for (let tick = 0; channels.length < count && tick < 100; tick++)
    await new Promise((resolve) => setImmediate(resolve));
  expect(channels).toHaveLength(count);
}
