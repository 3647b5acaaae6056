import { Injectable, NotFoundException } from '@nestjs/common';
import { JobsRepository, JobNotRetryableError } from '@pipeline/database';
import { AmqpConnection, DeadLetterQueue, DeadLetterReport, MessagePublisher } from '@pipeline/messaging';
import { MessageType, isPlainObject } from '@pipeline/contracts';
import { GetMessage } from 'amqplib';
import { JobSubmissionService } from './job-submission.service';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * What operators do to jobs that went wrong: run a failed job again, and replay or purge the
 * dead-letter queues. Each step is recorded in the job's timeline.
 */
@Injectable()
export class JobOperationsService {
  private readonly deadJobs: DeadLetterQueue;
  private readonly deadEvents: DeadLetterQueue;

  constructor(
    private readonly jobs: JobsRepository,
    private readonly submission: JobSubmissionService,
    private readonly publisher: MessagePublisher,
    connection: AmqpConnection,
  ) {
    this.deadJobs = new DeadLetterQueue(connection, connection.topology.jobsDeadLetterQueue);
    this.deadEvents = new DeadLetterQueue(connection, connection.topology.eventsDeadLetterQueue);
  }

  /** Runs a failed job again as its next attempt; answered once the broker has the new message. */
  async retry(id: string, correlationId?: string): Promise<{ id: string; attempt: number }> {
    const started = await this.jobs.startNextAttempt(id, 'retried by an operator', ['failed'], (job) => this.submission.publish(job, job.attempt, correlationId));
    if (!started) throw new NotFoundException(`job ${id} does not exist`);
    return { id, attempt: started.attempt };
  }

  async deadLetterCounts(): Promise<{ jobs: number; events: number }> {
    return { jobs: await this.deadJobs.count(), events: await this.deadEvents.count() };
  }

  /**
   * Runs the jobs of parked messages again, each as its next attempt, from the job as recorded
   * (not the parked body). A job that finished well, or a message that names no job, stays parked.
   */
  replayDeadJobs(limit: number): Promise<DeadLetterReport> {
    return this.deadJobs.drain(limit, async (message) => {
      const id = jobIdOf(message);
      if (!id) return { keep: 'the message names no job' };
      try {
        const started = await this.jobs.startNextAttempt(id, 'replayed from the dead-letter queue', ['failed', 'queued', 'processing'], (job) =>
          this.submission.publish(job, job.attempt),
        );
        return started ? 'done' : { keep: `job ${id} does not exist` };
      } catch (error) {
        if (error instanceof JobNotRetryableError) return { keep: error.message };
        throw error;
      }
    });
  }

  /** Drops parked job messages; a job that had not finished fails with PURGED. */
  purgeDeadJobs(limit: number): Promise<DeadLetterReport> {
    return this.deadJobs.drain(limit, async (message) => {
      const id = jobIdOf(message);
      if (id) await this.jobs.recordPurged(id, 'purged by an operator');
      return 'done';
    });
  }

  /** Sends parked events back to the results writer (after whatever made the database refuse them is fixed). */
  replayDeadEvents(limit: number): Promise<DeadLetterReport> {
    return this.deadEvents.drain(limit, async (message) => {
      let payload: unknown;
      try {
        payload = JSON.parse(message.content.toString('utf8'));
      } catch {
        return { keep: 'the message is not JSON' };
      }
      if (!isPlainObject(payload)) return { keep: 'the message is not a JSON object' };
      await this.publisher.publish(MessageType.jobEvent, String(message.properties.messageId ?? ''), payload);
      return 'done';
    });
  }

  purgeDeadEvents(limit: number): Promise<DeadLetterReport> {
    return this.deadEvents.drain(limit, async () => 'done');
  }
}

function jobIdOf(message: GetMessage): string | null {
  const id = String(message.properties.messageId ?? '');
  return UUID.test(id) ? id : null;
}
