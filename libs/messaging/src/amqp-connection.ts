import { Logger, OnApplicationShutdown } from '@nestjs/common';
import { ChannelModel, connect, RecoveringChannelModel } from 'amqplib';
import { Topology } from './topology';

export interface AmqpConnectionOptions {
  url: string;
  heartbeatSeconds: number;
  /** A name shown in the broker's connection list. */
  connectionName: string;
}

type ConnectHook = (model: ChannelModel) => Promise<void>;

/**
 * One AMQP connection per process, re-established after a drop. Whoever needs channels
 * registers a hook with `onConnect`; hooks run again after each reconnect, once the
 * topology has been declared, so publishers and consumers come back by themselves.
 */
export class AmqpConnection implements OnApplicationShutdown {
  private readonly logger = new Logger(AmqpConnection.name);
  private readonly hooks: ConnectHook[] = [];
  private recovering?: RecoveringChannelModel;
  private model: ChannelModel | null = null;
  private closing = false;
  /** True while the broker refuses publishes (a memory or disk alarm). */
  blocked = false;

  constructor(
    private readonly options: AmqpConnectionOptions,
    readonly topology: Topology,
  ) {}

  get isConnected(): boolean {
    return this.model !== null;
  }

  /** The live connection, for short-lived channels (operator actions); null while reconnecting. */
  get current(): ChannelModel | null {
    return this.model;
  }

  async connect(): Promise<void> {
    if (this.recovering) return;
    const url = new URL(this.options.url);
    if (!url.searchParams.has('heartbeat')) url.searchParams.set('heartbeat', String(this.options.heartbeatSeconds));
    this.recovering = await connect(url.toString(), {
      // Without it Nagle's algorithm can hold small frames back for ~40 ms.
      noDelay: true,
      clientProperties: { connection_name: this.options.connectionName },
      recovery: {
        initialDelay: 200,
        maxDelay: 5000,
        waitForConnect: false,
        setup: async (model: ChannelModel) => {
          const channel = await model.createChannel();
          await this.topology.declare(channel);
          await channel.close();
          this.model = model;
          for (const hook of this.hooks) await hook(model);
        },
      },
    });
    this.recovering.on('connect', () => this.logger.log(`Connected to RabbitMQ as ${this.options.connectionName}`));
    this.recovering.on('disconnect', (error: Error) => {
      this.model = null;
      this.blocked = false;
      if (!this.closing) this.logger.warn(`RabbitMQ connection lost: ${error.message}; reconnecting`);
    });
    this.recovering.on('connect-failed', (error: Error) => this.logger.warn(`Cannot reach RabbitMQ: ${error.message}; retrying`));
    this.recovering.on('blocked', (reason: string) => {
      this.blocked = true;
      this.logger.warn(`RabbitMQ blocks publishing: ${reason}`);
    });
    this.recovering.on('unblocked', () => {
      this.blocked = false;
      this.logger.log('RabbitMQ accepts publishing again');
    });
    this.recovering.on('error', (error: Error) => this.logger.warn(`RabbitMQ connection error: ${error.message}`));
    await this.recovering.waitForConnect();
  }

  /** Runs `hook` now if connected, and after every reconnect. */
  async onConnect(hook: ConnectHook): Promise<void> {
    this.hooks.push(hook);
    if (this.model) await hook(this.model);
  }

  async close(): Promise<void> {
    this.closing = true;
    const recovering = this.recovering;
    this.recovering = undefined;
    this.model = null;
    await recovering?.close().catch(() => undefined);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.close();
  }
}
