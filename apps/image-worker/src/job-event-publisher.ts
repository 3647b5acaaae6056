import { Injectable } from '@nestjs/common';
import {
  ImageJobMessage,
  JobEventMessage,
  JobEventType,
  jobEventId,
  MessageType,
} from '@pipeline/contracts';
import {
  AmqpContext,
  MessagePublisher,
  OutcomeNotPublishedError,
} from '@pipeline/messaging';
import { activeTraceId, WorkerConfig } from '@pipeline/platform';

/** How a job's attempt ended, or that it waits for another try. */
export type Outcome = Pick<
  JobEventMessage,
  'outputs' | 'error' | 'startedAt'
> & {
  type: Exclude<JobEventType, 'started'>;
};

/** What names a job in its events and log lines. */
export type JobRef = Pick<ImageJobMessage, 'jobId' | 'attempt'>;

/** The delivery of a job message, as its events and log lines name it. */
export type Delivery = Pick<AmqpContext, 'deliveryNumber' | 'correlationId'>;

/**
 * What every log line about a job carries: with tracing on, the trace of the
 * delivery being handled too.
 */
export function jobLogFields(
  job: JobRef,
  delivery: Delivery,
): Record<string, unknown> {
  return {
    jobId: job.jobId,
    attempt: job.attempt,
    delivery: delivery.deliveryNumber,
    correlationId: delivery.correlationId,
    traceId: activeTraceId(),
  };
}

/** Publishes the steps of a job for the results writer. */
@Injectable()
export class JobEventPublisher {
  constructor(
    private readonly publisher: MessagePublisher,
    private readonly config: WorkerConfig,
  ) {}

  /**
   * Publishes a step of the job under the id derived for it, carrying the
   * job's correlation id along. An outcome (succeeded, failed) the broker does
   * not take fails with OutcomeNotPublishedError, so that the message is
   * redelivered whatever its try, never parked without its outcome.
   */
  async publish(
    job: JobRef,
    delivery: Delivery,
    step: Outcome | { type: 'started' },
    at = new Date().toISOString(),
  ): Promise<void> {
    const number = delivery.deliveryNumber;
    const event: JobEventMessage = {
      eventId: jobEventId(job.jobId, job.attempt, step.type, number),
      jobId: job.jobId,
      attempt: job.attempt,
      delivery: number,
      workerId: this.config.WORKER_ID,
      at,
      ...step,
    };
    try {
      await this.publisher.publish(
        MessageType.jobEvent,
        event.eventId,
        event,
        delivery.correlationId,
      );
    } catch (error) {
      if (step.type === 'succeeded' || step.type === 'failed')
        throw new OutcomeNotPublishedError(error);
      throw error;
    }
  }
}
