import { ensureDatabase } from '@pipeline/database';
import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeBenchResources } from './bench-resources';
import { exited } from './child-exit';

/** A producer the bench started, and the base URL of its API. */
export interface ProducerProcess {
  base: string;
  child: ChildProcess;
}

/**
 * Starts the producer at `entry` on a free-ish port with `env` added to the
 * bench's own, and waits (up to a minute) until it says it is ready.
 */
export async function startProducer(
  entry: string,
  env: Record<string, string>,
): Promise<ProducerProcess> {
  // Below Linux's ephemeral range (32768 up): no outgoing connection of this
  // machine holds it.
  const port = 22_000 + Math.floor(Math.random() * 1000);
  const child = spawn(process.execPath, [entry], {
    env: {
      ...process.env,
      PORT: String(port),
      METRICS_PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'error',
      ...env,
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  while (
    !(await fetch(`${base}/health/ready`).then(
      (response) => response.ok,
      () => false,
    ))
  ) {
    if (child.exitCode !== null || Date.now() > deadline)
      throw new Error('the producer did not start');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return { base, child };
}

/** Stops a producer the bench started, and waits until it has exited. */
export async function stopProducer({ child }: ProducerProcess): Promise<void> {
  child.kill('SIGTERM');
  await exited(child);
}

/**
 * What one bench run owns: a database and queues named `prefix`, a folder
 * (the producer's images folder, its storage in `storage/`) and an admin key.
 */
export interface BenchSite {
  prefix: string;
  databaseUrl: string;
  folder: string;
  adminKey: string;
  /**
   * Starts the producer at `entry` on the site, with `env` added; it is
   * stopped when the site is removed, if not before.
   */
  startProducer(
    entry: string,
    env?: Record<string, string>,
  ): Promise<ProducerProcess>;
}

/**
 * Runs `body` on a site of its own (database made, nothing in it), then
 * stops its producers and removes the database, the queues and the folder.
 */
export async function onBenchSite<T>(
  name: string,
  body: (site: BenchSite) => Promise<T>,
): Promise<T> {
  const prefix = `bench_${name}_${randomUUID().slice(0, 8)}`;
  const databaseUrl = `postgres://postgres@127.0.0.1:5432/${prefix}`;
  const folder = await mkdtemp(join(tmpdir(), `bench-${name}-`));
  const adminKey = randomBytes(32).toString('base64url');
  const producers: ProducerProcess[] = [];
  try {
    await ensureDatabase(databaseUrl);
    return await body({
      prefix,
      databaseUrl,
      folder,
      adminKey,
      startProducer: async (entry, env = {}) => {
        const producer = await startProducer(entry, {
          ADMIN_API_KEY: adminKey,
          DATABASE_URL: databaseUrl,
          AMQP_PREFIX: prefix,
          STORAGE_DIR: join(folder, 'storage'),
          IMAGES_DIR: folder,
          RATE_LIMIT_REQUESTS: '0',
          ...env,
        });
        producers.push(producer);
        return producer;
      },
    });
  } finally {
    for (const producer of producers) await stopProducer(producer);
    await removeBenchResources(prefix);
    await rm(folder, { recursive: true, force: true });
  }
}
