import { Logger } from '@nestjs/common';
import { MessageType } from '@pipeline/contracts';
import { ConfirmChannel, ChannelModel } from 'amqplib';
import { AmqpConnection } from './amqp-connection';
import { BrokerUnavailableError, UnroutableMessageError } from './errors';

/**
 * Publishes persistent, mandatory messages on a confirm channel and resolves only when the
 * broker has confirmed them. A returned (unroutable) message, a nack, a closed channel or
 * a confirm that does not come in time all reject: the caller never mistakes them for success.
 */
export class MessagePublisher {
  private readonly logger = new Logger(MessagePublisher.name);
  private channel: ConfirmChannel | null = null;
  private readonly returned = new Set<string>();
  private ready?: Promise<void>;

  constructor(
    private readonly connection: AmqpConnection,
    private readonly confirmTimeoutMs: number,
  ) {}

  /** Opens the confirm channel now and after every reconnect. */
  start(): Promise<void> {
    this.ready ??= this.connection.onConnect((model) => this.openChannel(model));
    return this.ready;
  }

  private async openChannel(model: ChannelModel): Promise<void> {
    const channel = await model.createConfirmChannel();
    // The broker sends basic.return before the confirm of the same message.
    channel.on('return', (message) => {
      if (message.properties.messageId) this.returned.add(message.properties.messageId);
    });
    channel.on('error', (error: Error) => this.logger.warn(`Publish channel error: ${error.message}`));
    channel.on('close', () => {
      if (this.channel === channel) this.channel = null;
    });
    this.channel = channel;
  }

  get isReady(): boolean {
    return this.channel !== null && !this.connection.blocked;
  }

  /** `correlationId`: the request the message stems from, carried in the AMQP property of that name. */
  async publish(type: MessageType, messageId: string, payload: object, correlationId?: string): Promise<void> {
    const channel = this.channel;
    if (!channel) throw new BrokerUnavailableError('not connected to RabbitMQ');
    if (this.connection.blocked) throw new BrokerUnavailableError('RabbitMQ is refusing publishes (resource alarm)');
    const content = Buffer.from(JSON.stringify(payload));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.returned.delete(messageId);
        reject(new BrokerUnavailableError(`RabbitMQ did not confirm within ${this.confirmTimeoutMs} ms`));
      }, this.confirmTimeoutMs);
      try {
        channel.publish(
          this.connection.topology.exchange,
          type,
          content,
          { persistent: true, mandatory: true, messageId, type, contentType: 'application/json', timestamp: Math.floor(Date.now() / 1000), ...(correlationId ? { correlationId } : {}) },
          (error: unknown) => {
            clearTimeout(timer);
            const wasReturned = this.returned.delete(messageId);
            if (error) reject(new BrokerUnavailableError(`RabbitMQ did not accept the message: ${String((error as Error)?.message ?? error)}`));
            else if (wasReturned) reject(new UnroutableMessageError(type));
            else resolve();
          },
        );
      } catch (error) {
        clearTimeout(timer);
        reject(new BrokerUnavailableError(`cannot publish: ${(error as Error).message}`));
      }
    });
  }
}
