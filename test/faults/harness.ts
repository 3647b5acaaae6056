import { Topology } from '@pipeline/messaging';
import { connect } from 'amqplib';
import { ChildProcess, spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  AMQP_URL,
  createTestDatabase,
  deleteTopology,
  makeTempDir,
  rabbitmqctl,
  uniqueName,
} from '../support/resources';
import { TEST_ADMIN_KEY } from '../support/api-keys';
import { entryOf } from '../../scripts/dist-layout';
import { freePortBlock } from '../support/ports';

const READY_TIMEOUT_MS = 60_000;

export type AppName = 'producer' | 'image-worker' | 'results-writer';

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface PipelineOptions {
  /**
   * Part of the queue prefix, so a leftover queue names the scenario that made
   * it.
   */
  scenario: string;
  workers: number;
  /** For every app: e.g. an AMQP_URL through a proxy, a short heartbeat. */
  env?: Record<string, string>;
  /** For the image workers only. */
  workerEnv?: Record<string, string>;
  /** For the results writer only. */
  writerEnv?: Record<string, string>;
  /** Start of the queue prefix and database names (`faults` unless given). */
  kind?: string;
  /**
   * Whether `stop` deletes the prefix's queues and exchanges on the machine's
   * broker (true unless the pipeline ran on a broker of its own).
   */
  cleanBroker?: boolean;
}

/**
 * One process of the pipeline: what it runs, with what, and what it said
 * (across restarts).
 */
interface AppProcess {
  name: string;
  app: AppName;
  env: Record<string, string>;
  port: number;
  child?: ChildProcess;
  exited?: Promise<ExitStatus>;
  log: string[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The built pipeline as separate processes, started one by one rather than
 * through `npm start`'s launcher (which restarts a child that dies on its own),
 * so that a test can kill, stop and restart any of them when it chooses. Each
 * pipeline has its own queue prefix, database and folders; `stop` removes all
 * of them.
 */
export class Pipeline {
  private readonly processes = new Map<string, AppProcess>();
  private readonly cleanups: Array<() => Promise<void>> = [];
  private cleanBroker = true;
  /**
   * The producer's bootstrap admin API key (ADMIN_API_KEY): clients send it as
   * `Authorization: Bearer <key>`.
   */
  readonly adminApiKey = TEST_ADMIN_KEY;

  private constructor(
    readonly prefix: string,
    readonly databaseUrl: string,
    readonly imagesDir: string,
    readonly storageDir: string,
  ) {}

  static async start(options: PipelineOptions): Promise<Pipeline> {
    const folder = await makeTempDir();
    let database: { url: string; drop: () => Promise<void> } | undefined;
    let pipeline: Pipeline | undefined;
    try {
      database = await createTestDatabase();
      pipeline = new Pipeline(
        uniqueName(
          `${options.kind ?? 'faults'}_${options.scenario.replace(/-/g, '_')}`,
        ),
        database.url,
        join(folder.path, 'images'),
        join(folder.path, 'storage'),
      );
      pipeline.cleanBroker = options.cleanBroker ?? true;
      pipeline.cleanups.push(folder.remove, database.drop);
      await mkdir(pipeline.imagesDir, { recursive: true });
      await mkdir(pipeline.storageDir, { recursive: true });
      await pipeline.migrate(options.env);
      // The suites measure what survives faults, not the per-key limits and
      // quotas, which would slow or stop their load.
      const producerEnv = {
        ADMIN_API_KEY: pipeline.adminApiKey,
        METRICS_PORT: '0',
        RATE_LIMIT_REQUESTS: '0',
        RATE_LIMIT_JOBS_IN_FLIGHT: '0',
        QUOTA_STORED_BYTES: '0',
        QUOTA_JOBS_PER_DAY: '0',
      };
      await pipeline.define('producer', 'producer', {
        ...producerEnv,
        ...options.env,
      });
      for (let i = 1; i <= options.workers; i++) {
        await pipeline.define(`worker-${i}`, 'image-worker', {
          WORKER_ID: `worker-${i}`,
          ...options.env,
          ...options.workerEnv,
        });
      }
      await pipeline.define('writer', 'results-writer', {
        ...options.env,
        ...options.writerEnv,
      });
      await Promise.all(
        [...pipeline.processes.keys()].map((name) => pipeline!.launch(name)),
      );
      return pipeline;
    } catch (error) {
      if (pipeline) await pipeline.stop().catch(() => undefined);
      else {
        await database?.drop().catch(() => undefined);
        await folder.remove();
      }
      throw error;
    }
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.get('producer').port}`;
  }

  get names(): string[] {
    return [...this.processes.keys()];
  }

  /**
   * What the processes printed, each line tagged with its process; one
   * process's only if named.
   */
  output(name?: string): string {
    const chosen = name ? [this.get(name)] : [...this.processes.values()];
    return chosen.flatMap((proc) => proc.log).join('\n');
  }

  isRunning(name: string): boolean {
    const { child } = this.get(name);
    return (
      child !== undefined &&
      child.exitCode === null &&
      child.signalCode === null
    );
  }

  /** Sends `signal` and resolves once the process has exited. */
  async kill(
    name: string,
    signal: 'SIGKILL' | 'SIGTERM',
    timeoutMs = 40_000,
  ): Promise<ExitStatus> {
    const proc = this.get(name);
    if (!proc.child || !proc.exited || !this.isRunning(name))
      throw new Error(`${name} is not running`);
    proc.log.push(`[${name}] <<< ${signal} from the test >>>`);
    proc.child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>(
      (resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)),
    );
    const status = await Promise.race([proc.exited, timeout]).finally(() =>
      clearTimeout(timer),
    );
    if (status === 'timeout') {
      proc.child.kill('SIGKILL');
      throw new Error(
        `${name} did not exit within ${timeoutMs} ms of ${signal}`,
      );
    }
    return status;
  }

  /**
   * Starts a stopped process again, with the same settings, and waits until it
   * is ready.
   */
  async restart(name: string): Promise<void> {
    if (this.isRunning(name)) throw new Error(`${name} is still running`);
    this.get(name).log.push(`[${name}] <<< restarted by the test >>>`);
    await this.launch(name);
  }

  /**
   * Starts a stopped process again with `env` added for this run only (e.g. an
   * armed failpoint), without waiting for it to be ready: it may well die
   * before. Resolves with its exit.
   */
  startWith(name: string, env: Record<string, string>): Promise<ExitStatus> {
    if (this.isRunning(name)) throw new Error(`${name} is still running`);
    this.get(name).log.push(
      `[${name}] <<< started by the test with ${JSON.stringify(env)} >>>`,
    );
    this.spawn(name, env);
    return this.get(name).exited!;
  }

  /** Waits until the named process answers its readiness check. */
  async waitUntilProcessReady(name: string): Promise<void> {
    await this.waitUntilReady(this.get(name));
  }

  /**
   * Waits until every running process answers its readiness check (after a
   * fault each reconnects by itself).
   */
  async waitUntilAllReady(): Promise<void> {
    await Promise.all(
      this.names
        .filter((name) => this.isRunning(name))
        .map((name) => this.waitUntilReady(this.get(name))),
    );
  }

  /**
   * Kills every process, then removes the database, the folders, and the
   * prefix's queues and exchanges.
   */
  async stop(): Promise<void> {
    const problems: unknown[] = [];
    const attempt = async (step: () => Promise<unknown>) =>
      step().catch((error) => problems.push(error));
    await Promise.all(
      [...this.processes.values()].map((proc) =>
        attempt(async () => {
          if (
            proc.child &&
            proc.exited &&
            proc.child.exitCode === null &&
            proc.child.signalCode === null
          ) {
            proc.child.kill('SIGKILL');
            await proc.exited;
          }
        }),
      ),
    );
    for (const cleanup of this.cleanups) await attempt(cleanup);
    if (this.cleanBroker) await attempt(() => deleteBrokerObjects(this.prefix));
    if (problems.length > 0)
      throw new Error(
        `Could not clean up after ${this.prefix}: ${problems.map(String).join('; ')}`,
      );
  }

  private get(name: string): AppProcess {
    const proc = this.processes.get(name);
    if (!proc) throw new Error(`No process named ${name}`);
    return proc;
  }

  private baseEnv(): Record<string, string> {
    return {
      LOG_FORMAT: 'json',
      LOG_LEVEL: 'warn',
      HOST: '127.0.0.1',
      AMQP_URL,
      AMQP_PREFIX: this.prefix,
      DATABASE_URL: this.databaseUrl,
      STORAGE_DIR: this.storageDir,
      IMAGES_DIR: this.imagesDir,
    };
  }

  private async migrate(extra: Record<string, string> = {}): Promise<void> {
    const log: string[] = [];
    const child = spawn(process.execPath, [entryOf('migrator')], {
      env: { ...process.env, ...this.baseEnv(), ...extra },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    collectLines(child, 'migrator', log);
    const { code } = await exitOf(child);
    if (code !== 0)
      throw new Error(`The migrator failed (exit ${code}):\n${log.join('\n')}`);
  }

  private async define(
    name: string,
    app: AppName,
    extra: Record<string, string> = {},
  ): Promise<void> {
    const port = await freePortBlock();
    this.processes.set(name, {
      name,
      app,
      port,
      env: { ...this.baseEnv(), PORT: String(port), ...extra },
      log: [],
    });
  }

  private async launch(name: string): Promise<void> {
    this.spawn(name);
    await this.waitUntilReady(this.get(name));
  }

  private spawn(name: string, extraEnv: Record<string, string> = {}): void {
    const proc = this.get(name);
    const child = spawn(process.execPath, [entryOf(proc.app)], {
      env: { ...process.env, ...proc.env, ...extraEnv },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    collectLines(child, name, proc.log);
    proc.child = child;
    proc.exited = exitOf(child);
  }

  /**
   * Ready: the process answers its readiness check, which covers the broker
   * (and the database where used).
   */
  private async waitUntilReady(proc: AppProcess): Promise<void> {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      if (!this.isRunning(proc.name))
        throw new Error(
          `${proc.name} exited while starting:\n${proc.log.join('\n')}`,
        );
      const ready = await fetch(
        `http://127.0.0.1:${proc.port}/health/ready`,
      ).then(
        (response) => response.ok,
        () => false,
      );
      if (ready) return;
      if (Date.now() > deadline)
        throw new Error(
          `${proc.name} was not ready within ${READY_TIMEOUT_MS} ms:\n${proc.log.join('\n')}`,
        );
      await sleep(100);
    }
  }
}

function collectLines(child: ChildProcess, name: string, log: string[]): void {
  for (const stream of [child.stdout!, child.stderr!]) {
    let rest = '';
    stream.on('data', (chunk: Buffer) => {
      const lines = (rest + chunk.toString('utf8')).split('\n');
      rest = lines.pop()!;
      for (const line of lines) log.push(`[${name}] ${line}`);
    });
    stream.on('end', () => rest && log.push(`[${name}] ${rest}`));
  }
}

function exitOf(child: ChildProcess): Promise<ExitStatus> {
  return new Promise((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
}

/**
 * Deletes the prefix's queues and exchanges: the topology's own, and any other
 * that carries the prefix (the topology grows queues over time, e.g. delay
 * queues for retries).
 */
export async function deleteBrokerObjects(prefix: string): Promise<void> {
  await deleteTopology(new Topology(prefix, 1));
  const ours = (list: string) =>
    list
      .split('\n')
      .map((line) => line.trim())
      .filter((name) => name === prefix || name.startsWith(`${prefix}.`));
  const queues = ours(rabbitmqctl(['list_queues', 'name']));
  const exchanges = ours(rabbitmqctl(['list_exchanges', 'name']));
  if (queues.length === 0 && exchanges.length === 0) return;
  const connection = await connect(AMQP_URL);
  try {
    const channel = await connection.createChannel();
    for (const queue of queues) await channel.deleteQueue(queue);
    for (const exchange of exchanges) await channel.deleteExchange(exchange);
  } finally {
    await connection.close();
  }
}
