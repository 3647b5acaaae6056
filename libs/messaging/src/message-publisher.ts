import { Logger } from '@nestjs/common';
import { MessageType } from '@pipeline/contracts';
import { ConfirmChannel, ChannelModel } from 'amqplib';
import { AmqpConnection } from './amqp-connection';
import { NackedChannelRenewal } from './channel-renewal';
import { ConfirmedPublishes } from './confirmed-publish';
import { BrokerUnavailableError } from './errors';
import { inPublishSpan } from './trace-context';

/**
 * Publishes persistent, mandatory messages on a confirm channel and resolves
 * only when the broker has confirmed them. A returned (unroutable) message, a
 * nack, a closed channel or a confirm that does not come in time all reject:
 * the caller never mistakes them for success. A nack also renews the channel
 * (see NackedChannelRenewal).
 */
export class MessagePublisher {
  private readonly logger = new Logger(MessagePublisher.name);
  private channel: ConfirmChannel | null = null;
  private readonly publishes = new ConfirmedPublishes();
  private ready?: Promise<void>;
  private readonly renewal: NackedChannelRenewal;

  constructor(
    private readonly connection: AmqpConnection,
    private readonly confirmTimeoutMs: number,
  ) {
    this.renewal = new NackedChannelRenewal(
      (model) => this.openChannel(model),
      confirmTimeoutMs,
      (error) =>
        this.logger.warn(
          `Could not open a new publish channel: ${error.message}`,
        ),
    );
  }

  /** Opens the confirm channel now and after every reconnect. */
  start(): Promise<void> {
    this.ready ??= this.connection.onConnect((model) =>
      this.openChannel(model),
    );
    return this.ready;
  }

  private async openChannel(model: ChannelModel): Promise<void> {
    const channel = await model.createConfirmChannel();
    this.publishes.watch(channel);
    channel.on('error', (error: Error) =>
      this.logger.warn(`Publish channel error: ${error.message}`),
    );
    channel.on('close', () => {
      if (this.channel === channel) this.channel = null;
    });
    this.channel = channel;
  }

  get isReady(): boolean {
    return this.channel !== null && !this.connection.blocked;
  }

  /**
   * `correlationId`: the request the message stems from, carried in the AMQP
   * property of that name. The active trace goes along in the headers
   * (`traceparent`), from a PRODUCER span of the publish.
   */
  async publish(
    type: MessageType,
    messageId: string,
    payload: object,
    correlationId?: string,
  ): Promise<void> {
    const channel = this.channel;
    if (!channel) throw new BrokerUnavailableError('not connected to RabbitMQ');
    if (this.connection.blocked)
      throw new BrokerUnavailableError(
        'RabbitMQ is refusing publishes (resource alarm)',
      );
    const content = Buffer.from(JSON.stringify(payload));
    const { exchange } = this.connection.topology;
    await inPublishSpan({ type, messageId, destination: exchange }, (headers) =>
      this.publishes.send(
        channel,
        exchange,
        type,
        content,
        {
          messageId,
          type,
          contentType: 'application/json',
          timestamp: Math.floor(Date.now() / 1000),
          ...(correlationId ? { correlationId } : {}),
          headers,
        },
        this.confirmTimeoutMs,
        () =>
          this.renewal.renew(channel, this.channel, this.connection.current),
      ),
    );
  }
}
