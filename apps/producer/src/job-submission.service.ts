import { Inject, Injectable, Logger } from '@nestjs/common';
import {
  imageJobMessage,
  JobSource,
  JobSpec,
  MessageType,
} from '@pipeline/contracts';
import { failpoint } from '@pipeline/failpoints';
import { JobsRepository, RecordedJob } from '@pipeline/database';
import { MessagePublisher } from '@pipeline/messaging';
import { ProducerMetrics } from '@pipeline/metrics';
import { activeTraceId, ProducerConfig } from '@pipeline/platform';
import { setTimeout as sleep } from 'node:timers/promises';
import { DependencyUnavailableError, IdempotencyConflictError } from './errors';

const CONFIRM_POLL_MS = 50;

/** What accepting a job needs of the jobs table. */
export type JobRecords = Pick<
  JobsRepository,
  | 'insertQueued'
  | 'delete'
  | 'markPublished'
  | 'findByIdempotencyKey'
  | 'findRecorded'
>;

/**
 * Accepting a job: record it as queued, publish it, mark it published once the
 * broker has confirmed, and only then answer. If publishing fails the row is
 * removed again, so a job is either fully accepted or not at all (the caller
 * removes an uploaded input it stored). A producer that dies between the insert
 * and the mark leaves a queued row without `published_at`: the results writer's
 * sweeper publishes it again (see JobSweeper).
 */
@Injectable()
export class JobSubmissionService {
  private readonly logger = new Logger(JobSubmissionService.name);

  constructor(
    @Inject(JobsRepository) private readonly jobs: JobRecords,
    @Inject(MessagePublisher)
    private readonly publisher: Pick<MessagePublisher, 'publish'>,
    @Inject(ProducerConfig)
    private readonly config: Pick<ProducerConfig, 'PUBLISH_TIMEOUT_MS'>,
    @Inject(ProducerMetrics)
    private readonly metrics: Pick<ProducerMetrics, 'jobsAccepted'>,
  ) {}

  /**
   * Accepts the job for the API key `apiKeyId`, or, when `idempotency` names a
   * key that API key already used for the same request, returns the job first
   * accepted under it (a different request under the key: 409). `inputBytes`,
   * an upload's size, goes on the key's stored bytes with the job.
   */
  async submit(
    id: string,
    apiKeyId: string,
    source: JobSource,
    spec: JobSpec,
    idempotency?: { key: string; requestHash: string },
    correlationId?: string,
    inputBytes?: number,
  ): Promise<{ id: string; repeated: boolean }> {
    const createdAt = new Date();
    // The request's trace, which the job's message carries on.
    const traceId = activeTraceId();
    let recorded: boolean;
    try {
      recorded = await this.jobs.insertQueued({
        id,
        apiKeyId,
        source,
        ...spec,
        createdAt,
        idempotency,
        inputBytes,
        traceId,
      });
    } catch (error) {
      throw new DependencyUnavailableError('the database', error);
    }
    if (!recorded) return this.repeat(apiKeyId, idempotency!);
    await failpoint('producer.after-insert');
    try {
      await this.publish({ id, source, ...spec, createdAt }, 1, correlationId);
    } catch (error) {
      await this.jobs.delete(id).catch(() => undefined);
      throw error;
    }
    await failpoint('producer.after-confirm');
    // The job is accepted either way; should this write fail, the sweeper (or a
    // repeat under its Idempotency-Key) publishes it again: the same job id and
    // attempt, which workers and writer dedupe.
    await this.jobs.markPublished(id).catch((error: Error) =>
      this.logger.warn({
        msg: `Job ${id} accepted, but could not be marked published: ${error.message}`,
        jobId: id,
        traceId,
      }),
    );
    this.metrics.jobsAccepted.inc({ source: source.kind });
    this.logger.debug({
      msg: 'job accepted',
      jobId: id,
      correlationId,
      traceId,
      source: source.kind,
    });
    return { id, repeated: false };
  }

  /**
   * Publishes a recorded job's message (its first run, or the run `attempt`),
   * resolving once confirmed.
   */
  publish(
    job: RecordedJob,
    attempt = 1,
    correlationId?: string,
  ): Promise<void> {
    return this.publisher.publish(
      MessageType.imageJob,
      job.id,
      imageJobMessage(job, attempt),
      correlationId,
    );
  }

  /**
   * A repeat answers with the first job only once the broker confirmed it, so
   * that it never reports a job that its first request then failed to publish.
   * A first request that never got to say (its producer died between the insert
   * and the confirm) is published again here.
   */
  private async repeat(
    apiKeyId: string,
    idempotency: { key: string; requestHash: string },
  ): Promise<{ id: string; repeated: boolean }> {
    const deadline = Date.now() + this.config.PUBLISH_TIMEOUT_MS + 1000;
    for (;;) {
      const first = await this.jobs.findByIdempotencyKey(
        apiKeyId,
        idempotency.key,
      );
      // Gone: the first request under the key was not accepted after all; the
      // client may retry.
      if (!first)
        throw new DependencyUnavailableError(
          'the first request under this Idempotency-Key',
          'it was not accepted',
        );
      if (first.requestHash !== idempotency.requestHash)
        throw new IdempotencyConflictError(idempotency.key);
      if (first.confirmed) return { id: first.id, repeated: true };
      if (Date.now() > deadline) {
        const recorded = await this.jobs.findRecorded(first.id);
        if (!recorded) continue;
        this.logger.warn(
          `Job ${first.id} was recorded but never confirmed; publishing it again for a repeat of its request`,
        );
        await this.publish(recorded);
        await this.jobs.markPublished(first.id);
        return { id: first.id, repeated: true };
      }
      await sleep(CONFIRM_POLL_MS);
    }
  }
}
