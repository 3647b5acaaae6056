import { Logger, OnApplicationShutdown } from '@nestjs/common';
import { ChannelModel, connect } from 'amqplib';
import { Writable } from 'node:stream';
import {
  connectionRound,
  nodeLabel,
  parseAmqpUrls,
  roundDelay,
} from './amqp-urls';
import { coalesceWrites } from './coalesced-writes';
import { Topology, TopologyMode } from './topology';

export interface AmqpConnectionOptions {
  /**
   * One node's URL, or the URLs of a cluster's nodes, comma-separated (see
   * amqp-urls).
   */
  url: string;
  heartbeatSeconds: number;
  /** A name shown in the broker's connection list. */
  connectionName: string;
  /**
   * Index of the node tried first; a random one by default, so that apps spread
   * over a cluster.
   */
  firstNode?: number;
  /**
   * Declare the topology on every connect (the default), or only check that it
   * exists.
   */
  topologyMode?: TopologyMode;
}

type ConnectHook = (model: ChannelModel) => Promise<void>;

/**
 * Pause before the first retry round once every node refused; doubles up to
 * RETRY_MAX_MS.
 */
const RETRY_INITIAL_MS = 200;
const RETRY_MAX_MS = 5000;
/**
 * Longest a TCP connect and AMQP handshake to one node may take before the next
 * node is tried.
 */
const CONNECT_TIMEOUT_MS = 5000;
/**
 * A connection that drops sooner than this counts as a failed round (no tight
 * reconnect loop).
 */
const STABLE_AFTER_MS = 5000;

/**
 * One AMQP connection per process, to one node of the broker (of several when
 * `url` lists a cluster's nodes), re-established after a drop. Whoever needs
 * channels registers a hook with `onConnect`; hooks run again after each
 * reconnect, once the topology has been declared, so publishers and consumers
 * come back by themselves. After a drop the next node in the list is tried
 * first, then the others in turn; once every node has refused, it waits (200 ms
 * doubling to 5 s) and goes round again, for as long as the app runs. Logs show
 * a node's host and port, never its credentials.
 */
export class AmqpConnection implements OnApplicationShutdown {
  private readonly logger = new Logger(AmqpConnection.name);
  private readonly hooks: ConnectHook[] = [];
  /**
   * The connection each hook last ran for: a hook registered while the hooks
   * run must not run twice.
   */
  private readonly hookRanFor = new WeakMap<ConnectHook, ChannelModel>();
  private readonly urls: string[];
  /** The node the next round starts with. */
  private nextNode: number;
  private model: ChannelModel | null = null;
  private connectedTo: string | null = null;
  private running?: Promise<void>;
  private firstConnect?: {
    promise: Promise<void>;
    resolve: () => void;
    reject: (error: Error) => void;
  };
  private pause?: { timer: NodeJS.Timeout; resolve: () => void };
  private closing = false;
  /** True while the broker refuses publishes (a memory or disk alarm). */
  blocked = false;

  constructor(
    private readonly options: AmqpConnectionOptions,
    readonly topology: Topology,
  ) {
    this.urls = parseAmqpUrls(options.url);
    this.nextNode =
      options.firstNode ?? Math.floor(Math.random() * this.urls.length);
  }

  get isConnected(): boolean {
    return this.model !== null;
  }

  /**
   * The live connection, for short-lived channels (operator actions); null
   * while reconnecting.
   */
  get current(): ChannelModel | null {
    return this.model;
  }

  /** `host:port` of the node connected to; null while reconnecting. */
  get node(): string | null {
    return this.model ? this.connectedTo : null;
  }

  /**
   * Resolves once connected to a node (waiting as long as it takes); reconnects
   * by itself after that.
   */
  async connect(): Promise<void> {
    if (!this.firstConnect) {
      let resolve!: () => void;
      let reject!: (error: Error) => void;
      const promise = new Promise<void>(
        (res, rej) => ((resolve = res), (reject = rej)),
      );
      this.firstConnect = { promise, resolve, reject };
      this.running = this.run();
    }
    return this.firstConnect.promise;
  }

  /** Runs `hook` now if connected, and after every reconnect. */
  async onConnect(hook: ConnectHook): Promise<void> {
    this.hooks.push(hook);
    if (this.model) await this.runHook(hook, this.model);
  }

  private async runHook(hook: ConnectHook, model: ChannelModel): Promise<void> {
    if (this.hookRanFor.get(hook) === model) return;
    this.hookRanFor.set(hook, model);
    await hook(model);
  }

  async close(): Promise<void> {
    this.closing = true;
    this.firstConnect?.reject(new Error('Connection closed'));
    if (this.pause) {
      clearTimeout(this.pause.timer);
      this.pause.resolve();
    }
    const model = this.model;
    this.model = null;
    await model?.close().catch(() => undefined);
    await this.running;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.close();
  }

  /**
   * Connects, waits for the connection to drop, and connects again (to the next
   * node first), until closed.
   */
  private async run(): Promise<void> {
    let failedRounds = 0;
    while (!this.closing) {
      let session: {
        closed: Promise<Error | undefined>;
        since: number;
      } | null = null;
      for (const index of connectionRound(this.urls.length, this.nextNode)) {
        if (this.closing) return;
        session = await this.open(index);
        if (session) {
          this.nextNode = index + 1;
          break;
        }
      }
      if (session) {
        const error = await session.closed;
        const lasted = Date.now() - session.since;
        if (this.closing) return;
        const others =
          this.urls.length > 1 ? '; trying the next node' : '; reconnecting';
        this.logger.warn(
          `RabbitMQ connection to ${this.connectedTo} lost: ${error?.message ?? 'closed'}${others}`,
        );
        failedRounds = lasted < STABLE_AFTER_MS ? failedRounds + 1 : 0;
      } else {
        failedRounds++;
      }
      if (failedRounds > 0)
        await this.sleep(
          roundDelay(failedRounds, RETRY_INITIAL_MS, RETRY_MAX_MS),
        );
    }
  }

  /**
   * Connects to one node, declares (or checks) the topology and runs the hooks.
   * Resolves with a promise of the connection's end, or null when the node
   * could not be reached or the setup failed.
   */
  private async open(
    index: number,
  ): Promise<{ closed: Promise<Error | undefined>; since: number } | null> {
    const label = nodeLabel(this.urls[index]);
    const model = await this.dial(this.urls[index], label);
    if (!model) return null;
    const closed = this.watch(model, label);
    try {
      if (this.options.topologyMode === 'check')
        await this.topology.check(model);
      else await this.topology.declare(model);
      if (this.closing) throw new Error('closing');
      this.model = model;
      this.connectedTo = label;
      for (const hook of this.hooks) await this.runHook(hook, model);
    } catch (error) {
      if (this.model === model) this.model = null;
      if (!this.closing)
        this.logger.warn(
          `RabbitMQ at ${label}: setting up the connection failed: ${(error as Error).message}`,
        );
      await model.close().catch(() => undefined);
      return null;
    }
    this.logger.log(
      `Connected to RabbitMQ at ${label} as ${this.options.connectionName}`,
    );
    this.firstConnect?.resolve();
    return { closed, since: Date.now() };
  }

  /** A connection to the node, or null (said in the log) when it refuses. */
  private async dial(
    nodeUrl: string,
    label: string,
  ): Promise<ChannelModel | null> {
    const url = new URL(nodeUrl);
    if (!url.searchParams.has('heartbeat'))
      url.searchParams.set('heartbeat', String(this.options.heartbeatSeconds));
    let model: ChannelModel;
    try {
      model = await connect(url.toString(), {
        // Without it Nagle's algorithm can hold small frames back for ~40 ms.
        noDelay: true,
        timeout: CONNECT_TIMEOUT_MS,
        clientProperties: { connection_name: this.options.connectionName },
      });
    } catch (error) {
      this.logger.warn(
        `Cannot reach RabbitMQ at ${label}: ${(error as Error).message}`,
      );
      return null;
    }
    // amqplib keeps its socket on the connection it wraps; frames written in
    // one turn share a write.
    coalesceWrites(
      (model.connection as unknown as { stream: Writable }).stream,
    );
    return model;
  }

  /**
   * Follows the connection's errors and flow control; resolves when it closes.
   */
  private watch(
    model: ChannelModel,
    label: string,
  ): Promise<Error | undefined> {
    const closed = new Promise<Error | undefined>((resolve) =>
      model.once('close', (error?: Error) => {
        if (this.model === model) this.model = null;
        this.blocked = false;
        resolve(error);
      }),
    );
    model.on('error', (error: Error) =>
      this.logger.warn(
        `RabbitMQ connection error (${label}): ${error.message}`,
      ),
    );
    model.on('blocked', (reason: string) => {
      this.blocked = true;
      this.logger.warn(`RabbitMQ (${label}) blocks publishing: ${reason}`);
    });
    model.on('unblocked', () => {
      this.blocked = false;
      this.logger.log(`RabbitMQ (${label}) accepts publishing again`);
    });
    return closed;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pause = undefined;
        resolve();
      }, ms);
      this.pause = { timer, resolve };
    });
  }
}
