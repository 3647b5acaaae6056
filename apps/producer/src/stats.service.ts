import { Injectable } from '@nestjs/common';
import {
  JobsRepository,
  WorkersRepository,
  WorkerRecord,
  JobCounts,
} from '@pipeline/database';
import { AmqpConnection, QueueDepth, queueDepths } from '@pipeline/messaging';
import { ProducerConfig } from '@pipeline/platform';

/** How long a minute is, for the throughput figure. */
const WINDOW_MS = 60_000;
/** Workers silent for longer than this drop off the list altogether. */
const FORGET_WORKERS_AFTER_MS = 3600_000;

export interface WorkerStatus extends WorkerRecord {
  /** Seconds since its last heartbeat. */
  heartbeatAgeSeconds: number;
  /** Silent for longer than WORKER_GONE_AFTER_S, or stopped. */
  gone: boolean;
}

export interface PipelineStats {
  at: string;
  /** Null while the broker is unreachable. */
  queues: {
    jobs: QueueDepth;
    events: QueueDepth;
    retries: QueueDepth[];
    deadLetters: { jobs: QueueDepth; events: QueueDepth };
  } | null;
  jobs: JobCounts['byStatus'] & { stuck: number };
  throughput: {
    windowSeconds: number;
    succeeded: number;
    failed: number;
    perSecond: number;
  };
  workers: WorkerStatus[];
}

/**
 * One snapshot of the pipeline for operators: queues from RabbitMQ, jobs and
 * workers from PostgreSQL.
 */
@Injectable()
export class StatsService {
  constructor(
    private readonly jobs: JobsRepository,
    private readonly workers: WorkersRepository,
    private readonly connection: AmqpConnection,
    private readonly config: ProducerConfig,
  ) {}

  async snapshot(): Promise<PipelineStats> {
    const now = Date.now();
    const [counts, workers, queues] = await Promise.all([
      this.jobs.counts(
        new Date(now - this.config.STUCK_AFTER_S * 1000),
        new Date(now - WINDOW_MS),
      ),
      this.workers.seenSince(new Date(now - FORGET_WORKERS_AFTER_MS)),
      this.queueDepths().catch(() => null),
    ]);
    const finished =
      counts.finishedSince.succeeded + counts.finishedSince.failed;
    return {
      at: new Date(now).toISOString(),
      queues,
      jobs: { ...counts.byStatus, stuck: counts.stuck },
      throughput: {
        windowSeconds: WINDOW_MS / 1000,
        ...counts.finishedSince,
        perSecond: Number((finished / (WINDOW_MS / 1000)).toFixed(2)),
      },
      workers: workers.map((worker) => {
        const heartbeatAgeSeconds = Math.max(
          0,
          Math.round((now - Date.parse(worker.lastSeenAt)) / 1000),
        );
        return {
          ...worker,
          heartbeatAgeSeconds,
          gone:
            worker.stoppedAt !== null ||
            heartbeatAgeSeconds > this.config.WORKER_GONE_AFTER_S,
        };
      }),
    };
  }

  private async queueDepths(): Promise<NonNullable<PipelineStats['queues']>> {
    const topology = this.connection.topology;
    const retryQueues = topology.jobRetryTiers.map((tier) => tier.queue);
    const depths = await queueDepths(this.connection, [
      topology.jobsQueue,
      topology.eventsQueue,
      topology.jobsDeadLetterQueue,
      topology.eventsDeadLetterQueue,
      ...retryQueues,
    ]);
    const [jobs, events, deadJobs, deadEvents, ...retries] = depths;
    return {
      jobs,
      events,
      retries,
      deadLetters: { jobs: deadJobs, events: deadEvents },
    };
  }
}
