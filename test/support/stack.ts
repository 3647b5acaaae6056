import { ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { connect } from 'amqplib';
import { TEST_ADMIN_KEY } from './api-keys';
import { AMQP_URL } from './resources';

const ROOT = join(__dirname, '..', '..');

/**
 * Consecutive ports a stack of up to 5 workers takes from its first (the
 * producer's): each worker's, the writer's, the producer's metrics port.
 */
export const STACK_PORTS = 8;

export interface RunningStack {
  baseUrl: string;
  /**
   * The producer's /metrics port (start.js puts it after the workers' and the
   * writer's ports).
   */
  metricsPort: number;
  /** The launcher's process id; the apps are its children. */
  pid: number;
  output: () => string;
  /** Sends SIGTERM and resolves with the launcher's exit code. */
  stop: () => Promise<number | null>;
}

export interface Launcher {
  child: ChildProcess;
  /**
   * Everything the launcher and its children wrote so far, stdout and stderr
   * together.
   */
  output: () => string;
  /** Resolves with the launcher's exit code once it has exited. */
  exited: Promise<number | null>;
}

/**
 * Runs `npm start`'s launcher (scripts/start.js) on the built apps, without
 * waiting for anything.
 */
export function spawnLauncher(
  env: Record<string, string>,
  port: number,
): Launcher {
  let log = '';
  const child: ChildProcess = spawn(
    process.execPath,
    [join(ROOT, 'scripts/start.js')],
    {
      env: {
        ...process.env,
        LOG_FORMAT: 'json',
        LOG_LEVEL: 'warn',
        ADMIN_API_KEY: TEST_ADMIN_KEY,
        PORT: String(port),
        AMQP_URL,
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  child.stdout!.on('data', (chunk) => (log += chunk));
  child.stderr!.on('data', (chunk) => (log += chunk));
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => resolve(code)),
  );
  return { child, output: () => log, exited };
}

/**
 * Starts the built pipeline as separate processes through `npm start`'s
 * launcher (migrations, producer, workers, writer) and waits until the producer
 * is ready.
 */
export async function startStack(
  env: Record<string, string> & { AMQP_PREFIX: string; WORKERS: string },
  port: number,
): Promise<RunningStack> {
  const { child, output, exited } = spawnLauncher(env, port);
  const baseUrl = `http://127.0.0.1:${port}`;
  const broker = await connect(AMQP_URL);
  const channel = await broker.createChannel();
  channel.on('error', () => undefined);
  const consumers = async (queue: string) => {
    const probe = await broker.createChannel();
    probe.on('error', () => undefined);
    try {
      return (await probe.checkQueue(queue)).consumerCount;
    } catch {
      return 0; // not declared yet
    } finally {
      await probe.close().catch(() => undefined);
    }
  };
  const deadline = Date.now() + 60_000;
  try {
    for (;;) {
      if (child.exitCode !== null)
        throw new Error(`The pipeline exited while starting:\n${output()}`);
      const ready = await fetch(`${baseUrl}/health/ready`).then(
        (r) => r.ok,
        () => false,
      );
      if (
        ready &&
        (await consumers(`${env.AMQP_PREFIX}.jobs`)) === Number(env.WORKERS) &&
        (await consumers(`${env.AMQP_PREFIX}.events`)) === 1
      ) {
        break;
      }
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(
          `The pipeline did not become ready in time:\n${output()}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  } finally {
    await broker.close();
  }
  return {
    baseUrl,
    metricsPort: port + Number(env.WORKERS) + 2,
    pid: child.pid!,
    output,
    stop: async () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
}
