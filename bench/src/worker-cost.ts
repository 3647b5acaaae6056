import { imageJobMessage, MessageType } from '@pipeline/contracts';
import {
  AmqpConnection,
  MessagePublisher,
  Topology,
} from '@pipeline/messaging';
import { Channel, connect } from 'amqplib';
import { ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { entryOf } from '../../scripts/dist-layout';
import { exited } from './child-exit';
import { removeBenchResources } from './bench-resources';
import { positiveInteger } from './options';
import { cpuTimeMs, mainThreadCpuNs } from './process-cpu';
import { PeakRssSampler } from './worker-rss';
import { WORKLOADS, writeTinyImages } from './workloads';

/**
 * `npm run bench:worker -- [--jobs 2000] [--rounds 3] [--concurrency 4]
 *                          [--prefetch 16]`
 *
 * What one image worker process spends per job, apart from everything else in
 * the pipeline: `--rounds` rounds of `--jobs` tiny jobs (the `tiny` workload:
 * 64×64 JPEGs resized to 320 wide, where the image work is small and the
 * plumbing shows) published straight to the jobs queue of a throwaway
 * topology, while one worker (built, as `npm start` runs it) takes them. A
 * round ends when every outcome is in the events queue (no results writer
 * reads it). Printed per round: jobs/s, the worker's CPU per job (the whole
 * process, and its main thread alone: the event loop every job's plumbing
 * shares) and its peak RSS. Later rounds show the warmed-up worker.
 */

const { values: args } = parseArgs({
  options: {
    jobs: { type: 'string', default: '2000' },
    rounds: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '4' },
    prefetch: { type: 'string', default: '16' },
  },
});
const JOBS = positiveInteger('jobs', args.jobs);
const ROUNDS = positiveInteger('rounds', args.rounds);
const CONCURRENCY = positiveInteger('concurrency', args.concurrency);
const PREFETCH = positiveInteger('prefetch', args.prefetch);
const AMQP_URL = 'amqp://guest:guest@127.0.0.1:5672';

async function waitUntil(
  check: () => Promise<boolean>,
  what: string,
  timeoutMs = 300_000,
): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** True while `worker` runs; a worker that exited fails the bench at once. */
function alive(worker: ChildProcess): boolean {
  if (worker.exitCode !== null || worker.signalCode !== null)
    throw new Error(
      `the worker exited (${worker.signalCode ?? `code ${worker.exitCode}`})`,
    );
  return true;
}

/** The tiny jobs of one round, published with their confirms awaited. */
async function publishRound(
  publisher: MessagePublisher,
  names: string[],
): Promise<void> {
  for (let first = 0; first < JOBS; first += 100) {
    await Promise.all(
      Array.from({ length: Math.min(100, JOBS - first) }, (_, i) => {
        const job = imageJobMessage(
          {
            id: randomUUID(),
            source: { kind: 'images', path: names[(first + i) % names.length] },
            ...WORKLOADS.tiny,
            createdAt: new Date(),
          },
          1,
        );
        return publisher.publish(
          MessageType.imageJob,
          job.jobId,
          job,
          job.jobId,
        );
      }),
    );
  }
}

function startWorker(prefix: string, folder: string): ChildProcess {
  return spawn(process.execPath, [entryOf('image-worker')], {
    env: {
      ...process.env,
      PORT: '0',
      HOST: '127.0.0.1',
      AMQP_URL,
      AMQP_PREFIX: prefix,
      STORAGE_DIR: join(folder, 'storage'),
      IMAGES_DIR: join(folder, 'images'),
      LOG_LEVEL: 'warn',
      // As `npm start`, the image and the chart run a worker.
      MALLOC_ARENA_MAX: '2',
      WORKER_CONCURRENCY: String(CONCURRENCY),
      WORKER_PREFETCH: String(PREFETCH),
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
}

/** The rounds, one line each, once the worker consumes. */
async function measureRounds(
  worker: ChildProcess,
  topology: Topology,
  publisher: MessagePublisher,
  channel: Channel,
  names: string[],
): Promise<void> {
  const pid = worker.pid!;
  await waitUntil(
    async () =>
      alive(worker) &&
      (await channel.checkQueue(topology.jobsQueue)).consumerCount > 0,
    'the worker to consume',
    60_000,
  );
  console.log(
    `one worker (concurrency ${CONCURRENCY}, prefetch ${PREFETCH}), ${JOBS} tiny jobs a round`,
  );
  const rss = new PeakRssSampler([pid]);
  for (let round = 1; round <= ROUNDS; round++) {
    const cpu = cpuTimeMs(pid)!;
    const main = mainThreadCpuNs(pid) / 1e6;
    const started = performance.now();
    const publishing = publishRound(publisher, names);
    await waitUntil(
      async () =>
        alive(worker) &&
        (await channel.checkQueue(topology.eventsQueue)).messageCount >=
          JOBS * round,
      `the outcomes of round ${round}`,
    );
    await publishing;
    const seconds = (performance.now() - started) / 1000;
    const cpuMs = cpuTimeMs(pid)! - cpu;
    const mainMs = mainThreadCpuNs(pid) / 1e6 - main;
    console.log(
      `round ${round}: ${(JOBS / seconds).toFixed(1)} jobs/s; worker CPU ${(cpuMs / JOBS).toFixed(2)} ms a job, ` +
        `main thread ${(mainMs / JOBS).toFixed(2)} ms a job; peak RSS ${rss.endPhase()} MiB`,
    );
  }
  rss.stop();
}

async function main(): Promise<void> {
  const prefix = `bench-worker-${process.pid}`;
  const folder = await mkdtemp(join(tmpdir(), 'pipeline-bench-worker-'));
  await mkdir(join(folder, 'images'));
  const names = await writeTinyImages(join(folder, 'images'));
  const topology = new Topology(prefix, 5);
  const connection = new AmqpConnection(
    { url: AMQP_URL, heartbeatSeconds: 30, connectionName: `${prefix} bench` },
    topology,
  );
  await connection.connect();
  const publisher = new MessagePublisher(connection, 30_000);
  await publisher.start();
  const inspector = await connect(AMQP_URL);
  const channel = await inspector.createChannel();
  const worker = startWorker(prefix, folder);
  try {
    await measureRounds(worker, topology, publisher, channel, names);
  } finally {
    worker.kill('SIGTERM');
    await exited(worker);
    await connection.close();
    await inspector.close();
    await removeBenchResources(prefix).catch(() => undefined);
    await rm(folder, { recursive: true, force: true });
  }
}

void main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
