import { DynamicModule, Module, Provider } from '@nestjs/common';
import { SharedConfig } from '@pipeline/platform';
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
  requeuePauseMs: number;
  /**
   * With a limit, transient failures are retried through the delay queues; see
   * QueueConsumer.
   */
  maxTries?: number;
  /** Longest wait for in-flight handlers when the app shuts down. */
  shutdownGraceMs: number;
  /** See AmqpTransportOptions. */
  isMalformed?: (error: unknown) => boolean;
}

/** What sets one app's use of the broker apart from the others'. */
export interface MessagingRole {
  /** The connection's name on the broker, after AMQP_PREFIX. */
  connectionName: string;
  publishTimeoutMs?: number;
  /** For an app that consumes: the grace period is SHUTDOWN_GRACE_MS. */
  consume?: Omit<ConsumeOptions, 'shutdownGraceMs'>;
}

/** The broker settings every app shares, with the app's own role. */
export function messagingOptionsOf(
  config: SharedConfig,
  role: MessagingRole,
): MessagingOptions {
  const { consume } = role;
  return {
    url: config.AMQP_URL,
    prefix: config.AMQP_PREFIX,
    heartbeatSeconds: config.AMQP_HEARTBEAT_S,
    topologyMode: config.AMQP_TOPOLOGY,
    deliveryLimit: config.AMQP_DELIVERY_LIMIT,
    quorumInitialGroupSize: config.AMQP_QUORUM_INITIAL_GROUP_SIZE,
    retryDelaysMs: config.RETRY_DELAYS_MS.split(',').map(Number),
    connectionName: `${config.AMQP_PREFIX} ${role.connectionName}`,
    publishTimeoutMs: role.publishTimeoutMs,
    consume: consume && {
      ...consume,
      shutdownGraceMs: config.SHUTDOWN_GRACE_MS,
    },
  };
}

/** The connection, connected before the app starts. */
function connectionProvider(options: MessagingOptions): Provider {
  return {
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
  };
}

function publisherProvider(options: MessagingOptions): Provider {
  return {
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
  };
}

function transportProvider(
  options: MessagingOptions,
  consume: ConsumeOptions,
): Provider {
  return {
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
        requeuePauseMs: consume.requeuePauseMs,
        shutdownGraceMs: consume.shutdownGraceMs,
        publishTimeoutMs: options.publishTimeoutMs,
        isMalformed: consume.isMalformed,
      }),
  };
}

/**
 * The broker connection (connected before the app starts), the publisher, and
 * for apps that consume the transport (started by consumeMessages; its
 * `isConsuming` feeds readiness).
 */
@Module({})
export class MessagingModule {
  static forRoot(options: MessagingOptions): DynamicModule {
    const { consume } = options;
    return {
      module: MessagingModule,
      global: true,
      providers: [
        connectionProvider(options),
        publisherProvider(options),
        ...(consume ? [transportProvider(options, consume)] : []),
      ],
      exports: [
        AmqpConnection,
        MessagePublisher,
        ...(consume ? [AmqpTransport] : []),
      ],
    };
  }

  /** The module as the app's settings and role say. */
  static fromConfig(config: SharedConfig, role: MessagingRole): DynamicModule {
    return MessagingModule.forRoot(messagingOptionsOf(config, role));
  }
}
