import 'reflect-metadata';
import { batchOperationCount, JobSpec } from '@pipeline/contracts';
import { ensureDatabase } from '@pipeline/database';
import { processImage, processVariants } from '@pipeline/imaging';
import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import {
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  writeFile,
} from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { connect } from 'amqplib';
import { Client } from 'pg';
import { REPOSITORY_ROOT as ROOT } from '../../scripts/dist-layout';
import { removeBenchResources } from './bench-resources';
import { exited } from './child-exit';
import { printProfiles } from './cpu-profile';
import {
  arrivalCount,
  arrivalOffsetsMs,
  formatP99OverIdle,
  median,
  openLoop,
  p99OverIdle,
  summarizeLatencies,
  summarizeSegments,
  formatSegments,
  LatencySegments,
} from './latency';
import { positiveInteger } from './options';
import { CpuMeter, formatCpuPerJob, pipelineRoles } from './process-cpu';
import { preparePeers, runPeers, withPeersDefault } from './peers';
import { startS3Storage } from './s3-server';
import {
  filesystemStorageEnv,
  resultsFileName,
  StorageFigures,
  StorageKind,
  storagesToRun,
  storageTable,
} from './storage-runs';
import { refusedStatuses, Submission, submissions } from './submissions';
import { childProcesses, PeakRssSampler } from './worker-rss';
import { WORKLOADS, writeTinyImages } from './workloads';

/** The bootstrap admin key of the pipeline the benchmark starts. */
const BENCH_KEY = randomBytes(32).toString('base64url');

/**
 * `npm run bench -- --images DIR --jobs N --workers K
 *   --workload thumb|filters|tiny|variants [--concurrency C] [--prefetch P]
 *   [--batch B] [--idle-jobs 20] [--steady-seconds 10 | --steady-jobs S]
 *   [--out FILE] [--peers [DIR]] [--cpu-prof DIR] [--storage filesystem|s3]`
 *
 * Measures, in one run on one machine: (1) the limit — sharp alone in this
 * process on the same images and operations, best of several in-flight counts;
 * (2) the pipeline end to end, HTTP accept to row committed, with K worker
 * processes: N jobs with C requests in flight, each request one job (POST
 * /v1/jobs) or, with --batch B, B jobs (POST /v1/jobs/batch). Prints both and
 * their ratio, job latency percentiles and the highest RSS a worker process
 * reached. Then, on the drained pipeline: (3) idle latency — --idle-jobs jobs
 * one at a time, each sent once the previous one finished, their median; (4) a
 * steady stream — single jobs arriving open-loop at half the throughput (2)
 * measured, for --steady-seconds (or --steady-jobs jobs), their p50/p99/max and
 * the p99 as a multiple of the idle latency. A job's latency is its row's
 * updated_at - created_at. Writes the figures as JSON (--out, default
 * bench-results/<workload>[-batchB].json). With --peers, then runs the peer
 * pipelines in DIR (default ../shared/bench-peers) on the same images. Also
 * prints the CPU each process spent per job in (2); with --cpu-prof, each app's
 * top functions by self time. With --storage s3, runs (2) to (4) twice: on the
 * filesystem, then on a bucket of a throwaway Ceph RGW, each pipeline's ratio
 * to sharp alone measured around its own throughput phase, and prints both in
 * one table (the bucket's figures under `s3` in the JSON, in
 * <workload>[-batchB]-s3.json).
 */

const { values: args } = parseArgs({
  args: withPeersDefault(
    process.argv.slice(2),
    join(ROOT, '..', 'shared', 'bench-peers'),
  ),
  options: {
    images: { type: 'string' },
    jobs: { type: 'string', default: '300' },
    workers: { type: 'string', default: '2' },
    workload: { type: 'string', default: 'thumb' },
    concurrency: { type: 'string' },
    prefetch: { type: 'string' },
    out: { type: 'string' },
    peers: { type: 'string' },
    batch: { type: 'string', default: '1' },
    'idle-jobs': { type: 'string', default: '20' },
    'steady-seconds': { type: 'string', default: '10' },
    'steady-jobs': { type: 'string' },
    storage: { type: 'string', default: 'filesystem' },
    // A folder for V8 CPU profiles of the producer, the workers and the writer
    // (node --cpu-prof).
    'cpu-prof': { type: 'string' },
  },
});

/**
 * What the producer takes in one batch unless told otherwise (MAX_BATCH_JOBS,
 * MAX_BATCH_OPERATIONS), and the most jobs it can be told.
 */
const DEFAULT_MAX_BATCH_JOBS = 100;
const DEFAULT_MAX_BATCH_OPERATIONS = 2000;
const HIGHEST_MAX_BATCH_JOBS = 10_000;

async function prepareImages(
  workload: string,
  folder: string,
): Promise<string[]> {
  if (workload === 'tiny') return writeTinyImages(folder);
  const source = resolve(
    args.images ?? join(ROOT, '..', 'shared', 'fixtures', 'photos'),
  );
  if (!existsSync(source)) throw new Error(`--images ${source} does not exist`);
  const names = (await readdir(source))
    .filter((name) => /\.(jpe?g|png|webp|avif|tiff?|gif)$/i.test(name))
    .sort();
  if (names.length === 0) throw new Error(`no images in ${source}`);
  for (const name of names)
    await writeFile(join(folder, name), await readFile(join(source, name)));
  return names;
}

/**
 * Sharp alone: the same decode, operations and encode as a worker, with
 * `inFlight` images at once.
 */
async function measureLimit(
  folder: string,
  names: string[],
  jobs: number,
  inFlight: number,
  workload: (typeof WORKLOADS)[string],
): Promise<number> {
  let next = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < jobs) {
        const name = names[next++ % names.length];
        const input = await readFile(join(folder, name));
        const limits = { maxInputPixels: 268_402_689 };
        await (workload.variants
          ? processVariants(
              input,
              workload.operations,
              workload.variants,
              limits,
            )
          : processImage(input, workload.operations, workload.output, limits));
      }
    }),
  );
  return jobs / (Number(process.hrtime.bigint() - started) / 1e9);
}

function post(
  agent: Agent,
  port: number,
  path: string,
  body: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolvePost, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          authorization: `Bearer ${BENCH_KEY}`,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolvePost({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Submits one job (POST /v1/jobs); its id. */
async function submitOne(
  agent: Agent,
  port: number,
  body: string,
): Promise<string> {
  const answer = await post(agent, port, '/v1/jobs', body);
  if (answer.status !== 202)
    throw new Error(
      `a job was refused with ${answer.status}: ${answer.body.slice(0, 200)}`,
    );
  return (JSON.parse(answer.body) as { id: string }).id;
}

interface JobLatency extends LatencySegments {
  latencyMs: number;
  status: string;
}

/** The latency of each job of `ids` that has finished, and its segments. */
async function finishedLatencies(
  db: Client,
  ids: string[],
): Promise<JobLatency[]> {
  // extract() gives numeric, which node-postgres reads as a string.
  const { rows } = await db.query<{
    latency_ms: string;
    status: string;
    queued_ms: string;
    processing_ms: string;
    recording_ms: string;
  }>(
    `SELECT extract(epoch FROM (updated_at - created_at)) * 1000 AS latency_ms, status,
            extract(epoch FROM (started_at - created_at)) * 1000 AS queued_ms,
            extract(epoch FROM (finished_at - started_at)) * 1000 AS processing_ms,
            extract(epoch FROM (updated_at - finished_at)) * 1000 AS recording_ms
       FROM jobs WHERE id = ANY($1::uuid[]) AND status IN ('succeeded', 'failed')`,
    [ids],
  );
  return rows.map((row) => ({
    latencyMs: Number(row.latency_ms),
    status: row.status,
    queuedMs: Number(row.queued_ms),
    processingMs: Number(row.processing_ms),
    recordingMs: Number(row.recording_ms),
  }));
}

/**
 * Waits until every job of `ids` has finished, polling every `pollMs`; their
 * latencies.
 */
async function latenciesOnceFinished(
  db: Client,
  ids: string[],
  pollMs: number,
  timeoutMs: number,
): Promise<JobLatency[]> {
  for (const deadline = Date.now() + timeoutMs; ;) {
    const finished = await finishedLatencies(db, ids);
    if (finished.length === ids.length) return finished;
    if (Date.now() > deadline)
      throw new Error(
        `${ids.length - finished.length} of ${ids.length} jobs did not finish within ${timeoutMs / 1000} s`,
      );
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

async function waitUntilReady(
  port: number,
  prefix: string,
  workers: number,
  child: ChildProcess,
): Promise<void> {
  const broker = await connect('amqp://guest:guest@127.0.0.1:5672');
  try {
    for (const deadline = Date.now() + 60_000; Date.now() < deadline;) {
      if (child.exitCode !== null)
        throw new Error('the pipeline exited while starting');
      const ready = await fetch(`http://127.0.0.1:${port}/health/ready`).then(
        (r) => r.ok,
        () => false,
      );
      const channel = await broker.createChannel();
      channel.on('error', () => undefined);
      const consumers = await channel.checkQueue(`${prefix}.jobs`).then(
        (q) => q.consumerCount,
        () => 0,
      );
      await channel.close().catch(() => undefined);
      if (ready && consumers === workers) return;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error('the pipeline did not become ready within 60 s');
  } finally {
    await broker.close();
  }
}

/** What sharp alone did, by images in flight, and the best of them. */
interface Limits {
  byInFlight: Record<string, number>;
  best: number;
}

/** What every pipeline run of one bench run shares. */
interface RunSettings {
  workloadName: string;
  jobs: number;
  workers: number;
  concurrency: number;
  batch: number;
  batchOperations: number;
  idleJobs: number;
  steadySeconds: number;
  steadyJobs: number | undefined;
  imagesDir: string;
  jobBodies: string[];
  requests: Submission[];
  profileDir: string | undefined;
  sharpAloneCpuMs: number;
  measureLimits: (when: string) => Promise<Limits>;
}

/** A pipeline the bench started, as its phases reach it. */
interface RunningPipeline {
  port: number;
  prefix: string;
  child: ChildProcess;
  db: Client;
  rss: PeakRssSampler;
}

/** The environment of a pipeline of the bench's own. */
function pipelineEnv(
  settings: RunSettings,
  where: { port: number; prefix: string; databaseUrl: string },
  storageEnv: Record<string, string>,
): NodeJS.ProcessEnv {
  const { batch, batchOperations, profileDir } = settings;
  return {
    ...process.env,
    PORT: String(where.port),
    WORKERS: String(settings.workers),
    AMQP_PREFIX: where.prefix,
    DATABASE_URL: where.databaseUrl,
    ...storageEnv,
    IMAGES_DIR: settings.imagesDir,
    LOG_FORMAT: 'json',
    LOG_LEVEL: 'warn',
    ADMIN_API_KEY: BENCH_KEY,
    // Capacity is measured here, not the per-key limits.
    RATE_LIMIT_REQUESTS: '0',
    RATE_LIMIT_JOBS_IN_FLIGHT: '0',
    QUOTA_STORED_BYTES: '0',
    QUOTA_JOBS_PER_DAY: '0',
    ...(args.prefetch ? { WORKER_PREFETCH: args.prefetch } : {}),
    // The batch size is the bench's choice, not the producer's default
    // limits.
    ...(batch > DEFAULT_MAX_BATCH_JOBS
      ? { MAX_BATCH_JOBS: String(batch) }
      : {}),
    ...(batchOperations > DEFAULT_MAX_BATCH_OPERATIONS
      ? { MAX_BATCH_OPERATIONS: String(batchOperations) }
      : {}),
    ...(profileDir
      ? {
          NODE_OPTIONS:
            `${process.env.NODE_OPTIONS ?? ''} --cpu-prof --cpu-prof-dir=${profileDir}`.trim(),
        }
      : {}),
  };
}

/** Sends every request, `concurrency` at a time; the statuses refused. */
async function sendAll(
  settings: RunSettings,
  agent: Agent,
  port: number,
): Promise<number[]> {
  const { requests } = settings;
  let sent = 0;
  const rejected: number[] = [];
  await Promise.all(
    Array.from({ length: settings.concurrency }, async () => {
      while (sent < requests.length) {
        const submission: Submission = requests[sent++];
        const answer = await post(
          agent,
          port,
          submission.path,
          submission.body,
        );
        rejected.push(
          ...refusedStatuses(submission, answer.status, answer.body),
        );
      }
    }),
  );
  return rejected;
}

/** Polls until `jobs` jobs have finished; how many polls that took. */
async function pollUntilFinished(db: Client, jobs: number): Promise<number> {
  let polls = 0;
  for (; ; polls++) {
    const { rows } = await db.query<{ done: number }>(
      `SELECT count(*) FILTER (WHERE status IN ('succeeded', 'failed'))::int AS done FROM jobs`,
    );
    if (rows[0].done >= jobs) return polls;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** (2) Throughput: every job sent, `concurrency` requests in flight. */
async function throughputPhase(
  settings: RunSettings,
  { port, prefix, child, db, rss }: RunningPipeline,
  phaseUs: { fromUs: number; toUs: number },
) {
  const { jobs } = settings;
  const cpu = new CpuMeter(child.pid!, db, prefix);
  await cpu.start();
  // The bench's own process shares the cores with the pipeline: its HTTP
  // client, its polling and its RSS sampling.
  const benchCpuBefore = process.cpuUsage();
  phaseUs.fromUs = Number(process.hrtime.bigint() / 1000n);
  const agent = new Agent({
    keepAlive: true,
    maxSockets: settings.concurrency,
  });
  const start = Date.now();
  const rejected = await sendAll(settings, agent, port);
  const acceptedIn = (Date.now() - start) / 1000;
  if (rejected.length > 0)
    throw new Error(
      `${rejected.length} submissions were refused (statuses ${[...new Set(rejected)].join(', ')})`,
    );
  const polls = await pollUntilFinished(db, jobs);
  const benchCpu = process.cpuUsage(benchCpuBefore);
  const benchCpuPerJobMs =
    Math.round(((benchCpu.user + benchCpu.system) / 1000 / jobs) * 100) / 100;
  const { rows } = await db.query<{
    latency_ms: string;
    committed_ms: string;
    status: string;
  }>(
    `SELECT extract(epoch FROM (updated_at - created_at)) * 1000 AS latency_ms, extract(epoch FROM updated_at) * 1000 AS committed_ms, status FROM jobs`,
  );
  const failed = rows.filter((row) => row.status !== 'succeeded').length;
  const latencies = rows.map((row) => Number(row.latency_ms));
  const lastCommit = Math.max(...rows.map((row) => Number(row.committed_ms)));
  const pipelineRate = jobs / ((lastCommit - start) / 1000);
  phaseUs.toUs = Number(process.hrtime.bigint() / 1000n);
  const { cpuPerJobMs, transactionsPerJob } = await cpu.stop(jobs, polls + 2);
  const throughputRssMiB = rss.endPhase();
  agent.destroy();
  return {
    acceptedIn,
    failed,
    latencies,
    pipelineRate,
    cpuPerJobMs,
    benchCpuPerJobMs,
    transactionsPerJob,
    throughputRssMiB,
  };
}

/**
 * (3) Idle latency: one job at a time on the drained pipeline, each sent once
 * the previous finished.
 */
async function idlePhase(
  { idleJobs, jobBodies }: RunSettings,
  { port, db, rss }: RunningPipeline,
  agent: Agent,
) {
  const idle: JobLatency[] = [];
  for (let i = 0; i < idleJobs; i++) {
    const id = await submitOne(agent, port, jobBodies[i % jobBodies.length]);
    idle.push(...(await latenciesOnceFinished(db, [id], 10, 60_000)));
  }
  const idleLatencies = idle.map((job) => job.latencyMs);
  const idleLatencyMs = median(idleLatencies);
  const idleFailed = idle.filter((job) => job.status !== 'succeeded').length;
  const idleRssMiB = rss.endPhase();
  console.log(
    `idle latency: median ${idleLatencyMs.toFixed(1)} ms over ${idleJobs} jobs one at a time (min ${Math.round(Math.min(...idleLatencies))} ms, ` +
      `max ${Math.round(Math.max(...idleLatencies))} ms); failed ${idleFailed}; peak worker RSS ${idleRssMiB} MiB`,
  );
  return { idleLatencyMs, idleFailed, idleRssMiB };
}

/**
 * (4) A steady stream at half the capacity (2) measured: single jobs arriving
 * on a clock, not on answers.
 */
async function steadyPhase(
  { steadyJobs, steadySeconds, jobBodies }: RunSettings,
  { port, db, rss }: RunningPipeline,
  agent: Agent,
  pipelineRate: number,
  idleLatencyMs: number,
) {
  const steadyRate = pipelineRate / 2;
  const steadyCount = steadyJobs ?? arrivalCount(steadyRate, steadySeconds);
  const stream = await openLoop(
    arrivalOffsetsMs(steadyRate, steadyCount),
    (i) => submitOne(agent, port, jobBodies[i % jobBodies.length]),
  );
  const steady = await latenciesOnceFinished(
    db,
    stream.answers,
    50,
    Math.max(120_000, (steadyCount / steadyRate) * 1000 * 4),
  );
  const steadyLatencyMs = summarizeLatencies(
    steady.map((job) => job.latencyMs),
  );
  const steadyFailed = steady.filter(
    (job) => job.status !== 'succeeded',
  ).length;
  const steadyP99OverIdle = p99OverIdle(steadyLatencyMs.p99, idleLatencyMs);
  const steadyRssMiB = rss.endPhase();
  agent.destroy();
  console.log(
    `steady stream: ${steadyCount} jobs at ${steadyRate.toFixed(1)}/s (half of ${pipelineRate.toFixed(1)}) over ${(steadyCount / steadyRate).toFixed(1)} s: ` +
      `latency p50 ${steadyLatencyMs.p50} ms, p99 ${steadyLatencyMs.p99} ms, max ${steadyLatencyMs.max} ms; ${formatP99OverIdle(steadyP99OverIdle)}; ` +
      `sender at worst ${Math.round(stream.lateMs)} ms late; failed ${steadyFailed}; peak worker RSS ${steadyRssMiB} MiB`,
  );
  const steadySegmentsMs = summarizeSegments(steady);
  console.log(
    `steady stream, where the time went: ${formatSegments(steadySegmentsMs)}`,
  );
  return {
    steadyRate,
    steadyCount,
    steadyLatencyMs,
    steadySegmentsMs,
    steadyP99OverIdle,
    steadySenderLateMs: Math.round(stream.lateMs),
    steadyFailed,
    steadyRssMiB,
  };
}

/** The throughput phase's figures against sharp alone around it. */
function reportThroughput(
  settings: RunSettings,
  throughput: Awaited<ReturnType<typeof throughputPhase>>,
  before: Limits,
  after: Limits,
) {
  const { pipelineRate, failed, throughputRssMiB } = throughput;
  const limit = (before.best + after.best) / 2;
  const latencyMs = summarizeLatencies(throughput.latencies);
  console.log(
    `pipeline${settings.batch > 1 ? ` (batches of ${settings.batch})` : ''}: ${pipelineRate.toFixed(1)} images/s end to end (limit ${limit.toFixed(1)}, ratio ${(pipelineRate / limit).toFixed(2)}); ` +
      `latency p50 ${latencyMs.p50} ms, p99 ${latencyMs.p99} ms; failed ${failed}; peak worker RSS ${throughputRssMiB} MiB`,
  );
  console.log(
    `${formatCpuPerJob(throughput.cpuPerJobMs, settings.sharpAloneCpuMs)}; ${throughput.transactionsPerJob} database transactions per job; ` +
      `the bench's own process (its HTTP client), on the same cores: ${throughput.benchCpuPerJobMs.toFixed(2)} ms per job`,
  );
  return {
    limit,
    limits: { before: before.byInFlight, after: after.byInFlight },
    latencyMs,
  };
}

/** One pipeline run's figures, as the results file holds them. */
function pipelineFigures(
  settings: RunSettings,
  storage: StorageKind,
  {
    throughput,
    reported: { limit, limits, latencyMs },
    idle,
    steady,
    peakWorkerRssMiB,
  }: {
    throughput: Awaited<ReturnType<typeof throughputPhase>>;
    reported: ReturnType<typeof reportThroughput>;
    idle: Awaited<ReturnType<typeof idlePhase>>;
    steady: Awaited<ReturnType<typeof steadyPhase>>;
    peakWorkerRssMiB: number;
  },
): Record<string, unknown> {
  const { pipelineRate } = throughput;
  return {
    workload: settings.workloadName,
    storage,
    images: settings.jobBodies.length,
    jobs: settings.jobs,
    workers: settings.workers,
    concurrency: settings.concurrency,
    batch: settings.batch,
    limitImagesPerSecond: Number(limit.toFixed(1)),
    limitByInFlight: limits,
    pipelineImagesPerSecond: Number(pipelineRate.toFixed(1)),
    ratio: Number((pipelineRate / limit).toFixed(3)),
    acceptRatePerSecond: Number(
      (settings.jobs / throughput.acceptedIn).toFixed(1),
    ),
    latencyMs,
    failed: throughput.failed,
    idleJobs: settings.idleJobs,
    idleLatencyMs: Number(idle.idleLatencyMs.toFixed(1)),
    idleFailed: idle.idleFailed,
    steadyRatePerSecond: Number(steady.steadyRate.toFixed(1)),
    steadyJobs: steady.steadyCount,
    steadyLatencyMs: steady.steadyLatencyMs,
    steadySegmentsMs: steady.steadySegmentsMs,
    steadyP99OverIdle: Number(steady.steadyP99OverIdle.toFixed(2)),
    steadySenderLateMs: steady.steadySenderLateMs,
    steadyFailed: steady.steadyFailed,
    peakWorkerRssMiB,
    peakWorkerRssMiBByPhase: {
      throughput: throughput.throughputRssMiB,
      idle: idle.idleRssMiB,
      steady: steady.steadyRssMiB,
    },
    cpuPerJobMs: throughput.cpuPerJobMs,
    benchCpuPerJobMs: throughput.benchCpuPerJobMs,
    transactionsPerJob: throughput.transactionsPerJob,
    sharpAloneCpuMsPerImage: Number(settings.sharpAloneCpuMs.toFixed(2)),
    node: process.version,
    at: new Date().toISOString(),
  };
}

/** The phases of one pipeline run on the running pipeline. */
async function measurePipeline(
  settings: RunSettings,
  storage: StorageKind,
  pipeline: RunningPipeline,
  before: Limits,
  phaseUs: { fromUs: number; toUs: number },
): Promise<{ figures: Record<string, unknown>; after: Limits }> {
  const throughput = await throughputPhase(settings, pipeline, phaseUs);
  const after = await settings.measureLimits('after');
  const { limit, limits, latencyMs } = reportThroughput(
    settings,
    throughput,
    before,
    after,
  );
  const { pipelineRate } = throughput;
  // The workers idled while sharp alone was measured again: no phase of
  // theirs.
  pipeline.rss.endPhase();
  const singleAgent = new Agent({ keepAlive: true });
  const idle = await idlePhase(settings, pipeline, singleAgent);
  const steady = await steadyPhase(
    settings,
    pipeline,
    singleAgent,
    pipelineRate,
    idle.idleLatencyMs,
  );
  const peakWorkerRssMiB = pipeline.rss.stop();
  const figures = pipelineFigures(settings, storage, {
    throughput,
    reported: { limit, limits, latencyMs },
    idle,
    steady,
    peakWorkerRssMiB,
  });
  return { figures, after };
}

/** The worker processes of the pipeline `child` started: `workers` of them. */
function workerPidsOf(child: ChildProcess, workers: number): number[] {
  const workerPids = childProcesses(child.pid!, 'image-worker');
  if (workerPids.length !== workers)
    throw new Error(
      `found ${workerPids.length} worker processes, expected ${workers}`,
    );
  return workerPids;
}

/**
 * (2) to (4) on a pipeline of its own keeping its blobs as `storageEnv` says:
 * its figures, and sharp alone measured right after its throughput phase.
 */
async function runPipeline(
  settings: RunSettings,
  storage: StorageKind,
  storageEnv: Record<string, string>,
  before: Limits,
): Promise<{ figures: Record<string, unknown>; after: Limits }> {
  console.log(`storage: ${storage}`);
  // The pipeline, as separate processes, on a database and queues of its own.
  const prefix = `bench_${randomUUID().slice(0, 8)}`;
  const databaseUrl = `postgres://postgres@127.0.0.1:5432/${prefix}`;
  await ensureDatabase(databaseUrl);
  // Below Linux's ephemeral range (32768 up): no outgoing connection of this
  // machine holds it.
  const port = 21_000 + Math.floor(Math.random() * 1000);
  const child = spawn(process.execPath, [join(ROOT, 'scripts/start.js')], {
    env: pipelineEnv(settings, { port, prefix, databaseUrl }, storageEnv),
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const db = new Client({ connectionString: databaseUrl });
  let rss: PeakRssSampler | undefined;
  let roles = new Map<number, string>();
  const phaseUs = { fromUs: 0, toUs: 0 };
  try {
    await waitUntilReady(port, prefix, settings.workers, child);
    rss = new PeakRssSampler(workerPidsOf(child, settings.workers));
    await db.connect();
    roles = pipelineRoles(child.pid!);
    const pipeline = { port, prefix, child, db, rss };
    return await measurePipeline(settings, storage, pipeline, before, phaseUs);
  } finally {
    rss?.stop();
    child.kill('SIGTERM');
    await exited(child);
    if (settings.profileDir) printProfiles(settings.profileDir, roles, phaseUs);
    await db.end().catch(() => undefined);
    await removeBenchResources(prefix);
  }
}

/** The run's options, checked. */
function readOptions() {
  const workloadName = args.workload;
  const workload = WORKLOADS[workloadName];
  if (!workload)
    throw new Error(
      `--workload must be one of ${Object.keys(WORKLOADS).join(', ')}`,
    );
  const jobs = positiveInteger('jobs', args.jobs);
  const workers = positiveInteger('workers', args.workers);
  const concurrency = positiveInteger(
    'concurrency',
    args.concurrency ?? (workloadName === 'tiny' ? '128' : '32'),
  );
  const batch = positiveInteger('batch', args.batch, HIGHEST_MAX_BATCH_JOBS);
  const idleJobs = positiveInteger('idle-jobs', args['idle-jobs']);
  const steadySeconds = Number(args['steady-seconds']);
  if (!(steadySeconds > 0))
    throw new Error(
      `--steady-seconds must be a positive number, got ${args['steady-seconds']}`,
    );
  const steadyJobs =
    args['steady-jobs'] === undefined
      ? undefined
      : positiveInteger('steady-jobs', args['steady-jobs']);
  const storages = storagesToRun(args.storage);
  return {
    ...{ workloadName, workload, jobs, workers, concurrency, batch },
    ...{ idleJobs, steadySeconds, steadyJobs, storages },
  };
}

type Options = ReturnType<typeof readOptions>;

/** One JSON job request per image, with the workload's operations. */
function jobBodiesFor(workload: JobSpec, names: string[]): string[] {
  const spec = workload.variants
    ? {
        operations: workload.operations,
        outputs: workload.variants.map(({ name, operations, output }) => ({
          name,
          operations,
          ...output,
        })),
      }
    : { operations: workload.operations, output: workload.output };
  return names.map((name) =>
    JSON.stringify({ source: { path: name }, ...spec }),
  );
}

/** (1) The limit: sharp alone on `limitJobs` images, by images in flight. */
function limitMeasurer(
  imagesDir: string,
  names: string[],
  limitJobs: number,
  workload: JobSpec,
): (when: string) => Promise<Limits> {
  return async (when) => {
    const byInFlight: Record<string, number> = {};
    for (const inFlight of [1, 2, 4, 8])
      byInFlight[inFlight] = await measureLimit(
        imagesDir,
        names,
        limitJobs,
        inFlight,
        workload,
      );
    const best = Math.max(...Object.values(byInFlight));
    console.log(
      `sharp alone (${when}): ${Object.entries(byInFlight)
        .map(([n, rate]) => `${n} in flight ${rate.toFixed(1)}/s`)
        .join(', ')} → best ${best.toFixed(1)} images/s`,
    );
    return { byInFlight, best };
  };
}

/**
 * Everything a pipeline run needs, from the options and the images; the
 * requests it sends are printed.
 */
function runSettings(
  options: Options,
  imagesDir: string,
  names: string[],
): Omit<RunSettings, 'profileDir' | 'sharpAloneCpuMs'> & { limitJobs: number } {
  const { workloadName, workload, jobs, batch } = options;
  const jobBodies = jobBodiesFor(workload, names);
  const perRequest =
    batch === 1
      ? 'one job per request (POST /v1/jobs)'
      : `batches of ${batch} (POST /v1/jobs/batch)`;
  console.log(
    `workload ${workloadName}: ${names.length} images, ${jobs} jobs, ${options.workers} workers, ${options.concurrency} requests in flight, ${perRequest}; storage ${options.storages.join(', then ')}`,
  );
  // (1) The limit, measured before and again after each pipeline's throughput
  // phase: a shared machine drifts, and the mean of the two around it is a
  // fairer yardstick than either.
  const limitJobs = Math.min(
    jobs,
    workloadName === 'tiny' ? 2000 : Math.max(60, names.length * 10),
  );
  return {
    ...options,
    imagesDir,
    jobBodies,
    requests: submissions(jobBodies, jobs, batch),
    // Every job has the workload's operations: a full batch holds the most.
    batchOperations: batch * batchOperationCount([JSON.parse(jobBodies[0])]),
    measureLimits: limitMeasurer(imagesDir, names, limitJobs, workload),
    limitJobs,
  };
}

/**
 * Sharp alone before the first pipeline, after a warm-up, and the CPU it spent
 * per image.
 */
async function sharpAloneBefore(
  settings: ReturnType<typeof runSettings>,
  names: string[],
  workload: JobSpec,
): Promise<{ before: Limits; sharpAloneCpuMs: number }> {
  const { imagesDir, limitJobs } = settings;
  // warm-up
  await measureLimit(imagesDir, names, Math.min(limitJobs, 20), 2, workload);
  const sharpCpu = process.cpuUsage();
  const before = await settings.measureLimits('before');
  const { user, system } = process.cpuUsage(sharpCpu);
  const sharpAloneCpuMs =
    (user + system) /
    1000 /
    (limitJobs * Object.keys(before.byInFlight).length);
  return { before, sharpAloneCpuMs };
}

/**
 * One pipeline run per storage, each after the previous; the filesystem's
 * figures, with the bucket's beside them under `s3`.
 */
async function runStorages(
  settings: RunSettings,
  storages: StorageKind[],
  storageEnv: (storage: StorageKind) => Record<string, string>,
  firstBefore: Limits,
): Promise<{ result?: Record<string, unknown>; runs: StorageFigures[] }> {
  let result: Record<string, unknown> | undefined;
  const runs: StorageFigures[] = [];
  let before = firstBefore;
  for (const storage of storages) {
    const { figures, after } = await runPipeline(
      settings,
      storage,
      storageEnv(storage),
      before,
    );
    before = after;
    runs.push({
      storage,
      imagesPerSecond: figures.pipelineImagesPerSecond as number,
      sharpAloneImagesPerSecond: figures.limitImagesPerSecond as number,
      ratio: figures.ratio as number,
    });
    // The filesystem's figures stay where they always were; the bucket's go
    // beside them.
    if (result) result[storage] = figures;
    else result = figures;
  }
  return { result, runs };
}

/** Sharp alone, then the pipeline on each storage; their figures. */
async function measureAll(
  options: Options,
  work: string,
  imagesDir: string,
  names: string[],
): Promise<Record<string, unknown> | undefined> {
  const { workloadName, workload, jobs, storages } = options;
  const prepared = runSettings(options, imagesDir, names);
  // Started first: a machine without Ceph fails before minutes of measuring,
  // and both pipelines run beside the same idle cluster.
  const s3 = storages.includes('s3') ? await startS3Storage() : undefined;
  let outcome: Awaited<ReturnType<typeof runStorages>>;
  try {
    const { before, sharpAloneCpuMs } = await sharpAloneBefore(
      prepared,
      names,
      workload,
    );
    const profileDir = args['cpu-prof'] && resolve(args['cpu-prof']);
    if (profileDir) await mkdir(profileDir, { recursive: true });
    const { result, runs } = await runStorages(
      { ...prepared, profileDir: profileDir || undefined, sharpAloneCpuMs },
      storages,
      (storage) =>
        storage === 's3'
          ? s3!.env
          : filesystemStorageEnv(join(work, 'storage')),
      before,
    );
    outcome = { result, runs };
  } finally {
    await s3?.stop();
  }
  if (outcome.runs.length > 1)
    console.log(storageTable(workloadName, jobs, outcome.runs));
  return outcome.result;
}

async function main(): Promise<void> {
  const options = readOptions();
  const { workloadName, jobs, workers, batch, storages } = options;
  const work = await mkdtemp(join(tmpdir(), 'pipeline-bench-'));
  const imagesDir = join(work, 'images');
  await mkdir(imagesDir);
  const names = await prepareImages(workloadName, imagesDir);
  const peers =
    args.peers === undefined
      ? undefined
      : await preparePeers(resolve(args.peers), workloadName, names);
  let result: Record<string, unknown> | undefined;
  try {
    result = await measureAll(options, work, imagesDir, names);
    // The peers read the same images, once this pipeline no longer competes for
    // the cores.
    if (peers && result)
      result.peers = await runPeers(peers, imagesDir, {
        workload: workloadName,
        jobs,
        workers,
        jobsPerRequest: batch,
        imagesPerSecond: result.pipelineImagesPerSecond as number,
        sharpAloneImagesPerSecond: result.limitImagesPerSecond as number,
        ratio: result.ratio as number,
      });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  const out = resolve(
    args.out ??
      join(
        ROOT,
        'bench-results',
        resultsFileName(workloadName, batch, storages),
      ),
  );
  await mkdir(join(out, '..'), { recursive: true });
  await writeFile(out, JSON.stringify(result, null, 2) + '\n');
  console.log(`figures written to ${out}`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
