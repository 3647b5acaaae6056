import { BeforeApplicationShutdown, Injectable, Logger } from '@nestjs/common';
import { ImageJobMessage } from '@pipeline/contracts';
import { failpoint } from '@pipeline/failpoints';
import { Deadline } from '@pipeline/imaging';
import {
  AmqpContext,
  inSpan,
  NotStartedError,
  PermanentMessageError,
} from '@pipeline/messaging';
import { WorkerMetrics } from '@pipeline/metrics';
import { ConcurrencyLimit, WorkerConfig } from '@pipeline/platform';
import { classifyJobError } from './classify-job-error';
import { ImageJobProcessor } from './image-job.processor';
import {
  JobEventPublisher,
  jobLogFields,
  Outcome,
} from './job-event-publisher';
import { mayHaveStoredOutputs } from './redelivery';
import { StartedAnnouncement } from './started-announcement';
import { WorkerActivity } from './worker-activity';

/** The delivery of a job message, as far as running the job looks at it. */
export type JobDelivery = Pick<
  AmqpContext,
  'deliveryNumber' | 'correlationId' | 'message' | 'tryNumber' | 'isLastTry'
>;

/** What one turn at processing a job came to. */
interface Turn {
  startedAt: string;
  finishedAt: string;
  /** performance.now() when the job began. */
  began: number;
  /** How the job ended; none when it is to be tried again, for `failure`. */
  outcome?: Outcome;
  failure?: unknown;
  announcement: StartedAnnouncement;
}

/** Every operation the job runs: the shared ones and each variant's. */
function operationsOf(job: ImageJobMessage): Array<{ op: string }> {
  return [
    ...job.operations,
    ...(job.variants ?? []).flatMap((variant) => variant.operations),
  ];
}

/**
 * Runs image jobs, WORKER_CONCURRENCY at once, and publishes how each went.
 * A job's message is settled only after its outcome is confirmed by the
 * broker; a crash before that means redelivery, and a redelivered job whose
 * outputs are already stored is not redone.
 */
@Injectable()
export class ImageJobRunner implements BeforeApplicationShutdown {
  private readonly logger = new Logger(ImageJobRunner.name);
  /**
   * The jobs processed at once; the other messages held wait here (see
   * WORKER_CONCURRENCY).
   */
  private readonly processing: ConcurrencyLimit;

  constructor(
    private readonly processor: ImageJobProcessor,
    private readonly events: JobEventPublisher,
    private readonly activity: WorkerActivity,
    private readonly metrics: WorkerMetrics,
    private readonly config: WorkerConfig,
  ) {
    this.processing = new ConcurrencyLimit(config.WORKER_CONCURRENCY);
  }

  /**
   * On stop, before the consumers drain: the jobs held but not started go
   * back to the queue at once, for another worker, so that the drain waits
   * only for the jobs being processed.
   */
  beforeApplicationShutdown(): void {
    const held = this.processing.queued;
    if (held > 0)
      this.logger.log(`stopping: ${held} job(s) not started handed back`);
    this.processing.close(() => new NotStartedError('the worker is stopping'));
  }

  /**
   * Resolves once the outcome is published; rejects for the message to be
   * tried again, or with PermanentMessageError after the last try.
   */
  async run(job: ImageJobMessage, delivery: JobDelivery): Promise<void> {
    // Publishing the outcome and settling the message happen outside the
    // turn: another job's image work goes on meanwhile.
    const turn = await this.processing.run(() => this.takeTurn(job, delivery));
    const seconds = () => (performance.now() - turn.began) / 1000;
    // A start the broker did not take is not worth redoing the job for: the
    // outcome carries `startedAt`.
    const notStarted = await turn.announcement.failure();
    if (notStarted)
      this.logger.warn({
        msg: 'started event not published',
        ...jobLogFields(job, delivery),
        error: notStarted.message,
      });
    if (!turn.outcome)
      return this.triedTransiently(job, delivery, turn, seconds());
    await this.publishOutcome(job, delivery, turn, turn.outcome);
    this.recordOutcome(job, delivery, turn.outcome, seconds());
  }

  private async takeTurn(
    job: ImageJobMessage,
    delivery: JobDelivery,
  ): Promise<Turn> {
    this.activity.processing++;
    try {
      const startedAt = new Date().toISOString();
      const began = performance.now();
      // JOB_TIMEOUT_S counts from here, for the whole job: download,
      // watermarks, every stage and variant.
      const deadline = Deadline.after(this.config.JOB_TIMEOUT_S * 1000);
      const announcement = new StartedAnnouncement(
        this.config.STARTED_EVENT_AFTER_MS,
        () =>
          this.events.publish(job, delivery, { type: 'started' }, startedAt),
      );
      const redelivered = mayHaveStoredOutputs(delivery);
      const ended = await inSpan(
        'image work',
        {
          attributes: {
            'pipeline.job.id': job.jobId,
            'pipeline.job.attempt': job.attempt,
            'pipeline.job.operations': operationsOf(job).length,
          },
        },
        () => this.processor.process(job, redelivered, deadline),
      )
        .then(
          (outcome) => ({ outcome }),
          (failure: unknown) => ({ failure }),
        )
        .finally(() => announcement.cancel());
      const finishedAt = new Date().toISOString();
      // Until libvips has stopped what the deadline cut short (within a
      // second), no other job takes the turn.
      await deadline.settled();
      return { startedAt, finishedAt, began, announcement, ...ended };
    } finally {
      this.activity.processing--;
    }
  }

  private async publishOutcome(
    job: ImageJobMessage,
    delivery: JobDelivery,
    turn: Turn,
    outcome: Outcome,
  ): Promise<void> {
    await this.events.publish(
      job,
      delivery,
      { ...outcome, startedAt: turn.startedAt },
      turn.finishedAt,
    );
    await failpoint('worker.after-outcome-published');
  }

  private recordOutcome(
    job: ImageJobMessage,
    delivery: JobDelivery,
    outcome: Outcome,
    seconds: number,
  ): void {
    if (outcome.type === 'succeeded') this.activity.jobsSucceeded++;
    else this.activity.jobsFailed++;
    this.logger[outcome.type === 'failed' ? 'warn' : 'log']({
      msg: `job ${outcome.type}`,
      ...jobLogFields(job, delivery),
      durationMs: Math.round(seconds * 1000),
      ...(outcome.error
        ? { code: outcome.error.code, error: outcome.error.message }
        : { outputs: outcome.outputs?.map((output) => output.name) }),
    });
    this.metrics.observeJob(
      operationsOf(job),
      seconds,
      outcome.type,
      outcome.error?.code,
    );
  }

  /**
   * A transient failure (a download that timed out, a storage hiccup): the
   * job waits in a delay queue for its next try, which the timeline records;
   * after the last try it fails for good, with the reason and the number of
   * tries, and its message is parked.
   */
  private async triedTransiently(
    job: ImageJobMessage,
    delivery: JobDelivery,
    { failure, startedAt }: Turn,
    seconds: number,
  ): Promise<never> {
    const { error: reason } = classifyJobError(failure);
    const last = delivery.isLastTry;
    this.metrics.observeJob(
      operationsOf(job),
      seconds,
      last ? 'failed' : 'retrying',
      reason.code,
    );
    if (last) {
      const tries = delivery.tryNumber;
      const message = `Gave up after ${tries} ${tries === 1 ? 'try' : 'tries'}: ${reason.message}`;
      this.logger.warn({
        msg: 'job failed',
        ...jobLogFields(job, delivery),
        code: reason.code,
        error: message,
      });
      await this.events.publish(job, delivery, {
        type: 'failed',
        error: { code: reason.code, message },
        startedAt,
      });
      this.activity.jobsFailed++;
      throw new PermanentMessageError(message);
    }
    this.logger.warn({
      msg: 'job will be retried',
      ...jobLogFields(job, delivery),
      try: delivery.tryNumber,
      code: reason.code,
      error: reason.message,
    });
    await this.events.publish(job, delivery, {
      type: 'retrying',
      error: reason,
      startedAt,
    });
    throw failure;
  }
}
