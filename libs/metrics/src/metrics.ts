import {
  collectDefaultMetrics,
  Counter,
  Gauge,
  Histogram,
  Registry,
} from 'prom-client';

/**
 * Buckets for image work and HTTP calls, in seconds: from a tiny thumbnail to a
 * slow download.
 */
const DURATION_BUCKETS = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120,
];

/** A counter on the app's registry; `labelNames` split it. */
function counter<L extends string = never>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: L[] = [],
): Counter<L> {
  return new Counter({ name, help, labelNames, registers: [registry] });
}

/**
 * A Prometheus registry for one app: the process defaults, labelled with the
 * app's name.
 */
export function createRegistry(app: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ app });
  collectDefaultMetrics({ register: registry });
  return registry;
}

/**
 * What the producer counts: HTTP requests and accepted jobs; queue depths are
 * read on each scrape.
 */
export class ProducerMetrics {
  readonly httpRequestDuration: Histogram<'method' | 'route' | 'status'>;
  readonly jobsAccepted: Counter<'source'>;

  constructor(
    registry: Registry,
    readQueueDepths: () => Promise<
      Array<{ queue: string; ready: number; consumers: number }>
    >,
  ) {
    this.httpRequestDuration = new Histogram({
      name: 'pipeline_http_request_duration_seconds',
      help: 'HTTP requests by method, route and status',
      labelNames: ['method', 'route', 'status'],
      buckets: DURATION_BUCKETS,
      registers: [registry],
    });
    this.jobsAccepted = counter(
      registry,
      'pipeline_jobs_accepted_total',
      'Jobs accepted (202) by source kind',
      ['source'],
    );
    // One read of the broker serves both gauges of a scrape (the registry
    // collects them at once).
    let lastRead:
      { at: number; depths: ReturnType<typeof readQueueDepths> } | undefined;
    const depths = () => {
      if (!lastRead || Date.now() - lastRead.at > 1000)
        lastRead = {
          at: Date.now(),
          depths: readQueueDepths().catch(() => []),
        };
      return lastRead.depths;
    };
    const gauges = [
      [
        'pipeline_queue_messages_ready',
        'Messages waiting in each queue',
        'ready',
      ],
      ['pipeline_queue_consumers', 'Consumers of each queue', 'consumers'],
    ] as const;
    // While the broker is away the gauges keep their last values.
    for (const [name, help, field] of gauges)
      new Gauge({
        name,
        help,
        labelNames: ['queue'],
        registers: [registry],
        async collect() {
          for (const depth of await depths())
            this.set({ queue: depth.queue }, depth[field]);
        },
      });
  }
}

/**
 * What an image worker counts: job durations per operation, failures by code,
 * what it holds.
 */
export class WorkerMetrics {
  readonly jobDuration: Histogram<'operation' | 'outcome'>;
  readonly jobFailures: Counter<'code'>;

  /**
   * `readInFlight`: the job messages the worker holds; `readProcessing`: the
   * jobs it is processing, of at most `concurrency`; read on each scrape.
   */
  constructor(
    registry: Registry,
    concurrency: number,
    readInFlight: () => number,
    readProcessing: () => number,
  ) {
    this.jobDuration = new Histogram({
      name: 'pipeline_job_duration_seconds',
      help: 'Time to run a job, observed once for each operation it has (operation="none" for a job without)',
      labelNames: ['operation', 'outcome'],
      buckets: DURATION_BUCKETS,
      registers: [registry],
    });
    this.jobFailures = counter(
      registry,
      'pipeline_job_failures_total',
      'Failed tries by error.code',
      ['code'],
    );
    new Gauge({
      name: 'pipeline_worker_jobs_in_flight',
      help: 'Job messages this worker holds (processing, or waiting their turn)',
      registers: [registry],
      collect() {
        this.set(readInFlight());
      },
    });
    new Gauge({
      name: 'pipeline_worker_utilisation_ratio',
      help: 'Jobs processing over WORKER_CONCURRENCY (how busy this worker is, 0 to 1)',
      registers: [registry],
      collect() {
        this.set(readProcessing() / concurrency);
      },
    });
  }

  /**
   * Records a finished try: its duration under each distinct operation, and its
   * failure code.
   */
  observeJob(
    operations: Array<{ op: string }>,
    seconds: number,
    outcome: 'succeeded' | 'failed' | 'retrying',
    errorCode?: string,
  ): void {
    const names = new Set(operations.map((operation) => operation.op));
    if (names.size === 0) names.add('none');
    for (const operation of names)
      this.jobDuration.observe({ operation, outcome }, seconds);
    if (errorCode) this.jobFailures.inc({ code: errorCode });
  }
}

/**
 * What the results writer counts: batch sizes, commit latency, and what its
 * sweepers did.
 */
export class WriterMetrics {
  readonly jobsFinished: Counter<'outcome'>;
  readonly batchSize: Histogram;
  readonly commitDuration: Histogram;
  readonly sweptJobs: Counter<'action'>;
  readonly expiredBlobs: Counter<'kind'>;
  readonly expiredBytes: Counter<'kind'>;
  readonly expiredJobRows: Counter;

  constructor(registry: Registry) {
    this.jobsFinished = counter(
      registry,
      'pipeline_jobs_finished_total',
      'Attempts of jobs that ended, each counted once as it was recorded: outcome="succeeded" or "failed"',
      ['outcome'],
    );
    // Both series exist from the start, so that rate() sees the first one.
    for (const outcome of ['succeeded', 'failed'])
      this.jobsFinished.inc({ outcome }, 0);
    this.expiredBlobs = counter(
      registry,
      'pipeline_expiry_blobs_total',
      'Stored objects the retention sweep removed: kind="upload" (inputs) or "output"',
      ['kind'],
    );
    this.expiredBytes = counter(
      registry,
      'pipeline_expiry_bytes_total',
      'Bytes of the stored objects the retention sweep removed, by kind ("upload" or "output")',
      ['kind'],
    );
    this.expiredJobRows = counter(
      registry,
      'pipeline_expiry_job_rows_total',
      'Rows of finished jobs the retention sweep removed (RETENTION_JOBS_S)',
    );
    this.sweptJobs = counter(
      registry,
      'pipeline_sweeper_jobs_total',
      'Jobs the sweeper acted on: action="republished" (no broker confirm was recorded) or "flagged_stuck"',
      ['action'],
    );
    this.batchSize = new Histogram({
      name: 'pipeline_writer_batch_size',
      help: 'Events committed per transaction',
      buckets: [1, 2, 5, 10, 25, 50, 100, 250, 500],
      registers: [registry],
    });
    this.commitDuration = new Histogram({
      name: 'pipeline_writer_commit_duration_seconds',
      help: 'Time to record a batch of events, from the first statement to the commit',
      buckets: DURATION_BUCKETS,
      registers: [registry],
    });
  }
}
