import { DynamicModule, Module } from '@nestjs/common';
import { AmqpConnection } from './amqp-connection';
import { MessagePublisher } from './message-publisher';
import { Topology } from './topology';

export interface MessagingOptions {
  /** One node's URL, or a cluster's nodes' URLs, comma-separated. */
  url: string;
  prefix: string;
  heartbeatSeconds: number;
  deliveryLimit: number;
  /** Delays of the jobs queue's retries; see Topology. */
  retryDelaysMs: number[];
  /** Members of each quorum queue when created; 0 or unset: the broker's default (every cluster node). */
  quorumInitialGroupSize?: number;
  connectionName: string;
  /** Set where the app publishes: how long to wait for a confirm. */
  publishTimeoutMs?: number;
}

/** The broker connection (connected before the app starts) and, for apps that publish, the publisher. */
@Module({})
export class MessagingModule {
  static forRoot(options: MessagingOptions): DynamicModule {
    return {
      module: MessagingModule,
      global: true,
      providers: [
        {
          provide: AmqpConnection,
          useFactory: async () => {
            const connection = new AmqpConnection(
              { url: options.url, heartbeatSeconds: options.heartbeatSeconds, connectionName: options.connectionName },
              new Topology(options.prefix, options.deliveryLimit, options.retryDelaysMs, { quorumInitialGroupSize: options.quorumInitialGroupSize }),
            );
            await connection.connect();
            return connection;
          },
        },
        {
          provide: MessagePublisher,
          inject: [AmqpConnection],
          useFactory: async (connection: AmqpConnection) => {
            const publisher = new MessagePublisher(connection, options.publishTimeoutMs ?? 5000);
            await publisher.start();
            return publisher;
          },
        },
      ],
      exports: [AmqpConnection, MessagePublisher],
    };
  }
}
