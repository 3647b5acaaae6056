import { DynamicModule, Module } from '@nestjs/common';
import { AmqpConnection } from './amqp-connection';
import { AmqpTransport } from './amqp-transport';
import { MessagePublisher } from './message-publisher';
import { Topology, TopologyMode } from './topology';

export interface MessagingOptions {
  /** One node's URL, or a cluster's nodes' URLs, comma-separated. */
  url: string;
  prefix: string;
  heartbeatSeconds: number;
  deliveryLimit: number;
  /** Delays of the jobs queue's retries; see Topology. */
  retryDelaysMs: number[];
  /**
   * Members of each quorum queue when created; 0 or unset: the broker's default
   * (every cluster node).
   */
  quorumInitialGroupSize?: number;
  connectionName: string;
  /**
   * Declare the topology (default), or only check it exists: for a broker user
   * without the configure permission.
   */
  topologyMode?: TopologyMode;
  /** Set where the app publishes: how long to wait for a confirm. */
  publishTimeoutMs?: number;
  /**
   * Set where the app consumes: the module then provides the AmqpTransport that
   * consumes `queue`.
   */
  consume?: ConsumeOptions;
}

export interface ConsumeOptions {
  queue: (topology: Topology) => string;
  prefetch: number;
  /** Pause before a transiently failed message goes back to the queue. */
  retryDelayMs: number;
  /**
   * With a limit, transient failures are retried through the delay queues; see
   * QueueConsumer.
   */
  maxTries?: number;
  /** Longest wait for in-flight handlers when the app shuts down. */
  shutdownGraceMs: number;
}

/**
 * The broker connection (connected before the app starts), the publisher, and
 * for apps that consume the transport (started by startApp; its `isConsuming`
 * feeds readiness).
 */
@Module({})
export class MessagingModule {
  static forRoot(options: MessagingOptions): DynamicModule {
    const { consume } = options;
    return {
      module: MessagingModule,
      global: true,
      providers: [
        {
          provide: AmqpConnection,
          useFactory: async () => {
            const connection = new AmqpConnection(
              {
                url: options.url,
                heartbeatSeconds: options.heartbeatSeconds,
                connectionName: options.connectionName,
                topologyMode: options.topologyMode,
              },
              new Topology(
                options.prefix,
                options.deliveryLimit,
                options.retryDelaysMs,
                { quorumInitialGroupSize: options.quorumInitialGroupSize },
              ),
            );
            await connection.connect();
            return connection;
          },
        },
        {
          provide: MessagePublisher,
          inject: [AmqpConnection],
          useFactory: async (connection: AmqpConnection) => {
            const publisher = new MessagePublisher(
              connection,
              options.publishTimeoutMs ?? 5000,
            );
            await publisher.start();
            return publisher;
          },
        },
        ...(consume
          ? [
              {
                provide: AmqpTransport,
                inject: [AmqpConnection],
                useFactory: (connection: AmqpConnection) =>
                  new AmqpTransport(connection, {
                    consumers: [
                      {
                        queue: consume.queue(connection.topology),
                        prefetch: consume.prefetch,
                        maxTries: consume.maxTries,
                      },
                    ],
                    retryDelayMs: consume.retryDelayMs,
                    shutdownGraceMs: consume.shutdownGraceMs,
                    publishTimeoutMs: options.publishTimeoutMs,
                  }),
              },
            ]
          : []),
      ],
      exports: [
        AmqpConnection,
        MessagePublisher,
        ...(consume ? [AmqpTransport] : []),
      ],
    };
  }
}
