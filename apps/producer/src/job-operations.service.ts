import { Injectable, Logger, NotFoundException } from '@nestjs/common';
import {
  AuditLogRepository,
  InputExpiredError,
  JobsRepository,
  JobNotRetryableError,
  StaleAttemptError,
} from '@pipeline/database';
import {
  AmqpConnection,
  DeadLetterQueue,
  DeadLetterReport,
  MessagePublisher,
} from '@pipeline/messaging';
import {
  Actor,
  attemptOfJobMessage,
  AuditAction,
  BulkRetryReport,
  MessageType,
  isPlainObject,
  RetryFailedJobsRequest,
} from '@pipeline/contracts';
import { failpoint } from '@pipeline/failpoints';
import { GetMessage } from 'amqplib';
import { JobSubmissionService } from './job-submission.service';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * What operators do to jobs that went wrong: run a failed job again, and replay
 * or purge the dead-letter queues. Each step is recorded in the job's timeline,
 * with the key that made it, and each operation in the audit log.
 */
@Injectable()
export class JobOperationsService {
  private readonly logger = new Logger(JobOperationsService.name);
  private readonly deadJobs: DeadLetterQueue;
  private readonly deadEvents: DeadLetterQueue;

  constructor(
    private readonly jobs: JobsRepository,
    private readonly audit: AuditLogRepository,
    private readonly submission: JobSubmissionService,
    private readonly publisher: MessagePublisher,
    connection: AmqpConnection,
  ) {
    this.deadJobs = new DeadLetterQueue(
      connection,
      connection.topology.jobsDeadLetterQueue,
    );
    this.deadEvents = new DeadLetterQueue(
      connection,
      connection.topology.eventsDeadLetterQueue,
    );
  }

  /**
   * Runs a failed job again as its next attempt; answered once the broker has
   * the new message.
   */
  async retry(
    id: string,
    actor: Actor,
  ): Promise<{ id: string; attempt: number }> {
    const run = {
      reason: 'retried by an operator',
      retryable: ['failed'] as const,
      alsoStuck: true,
      actor,
      auditAs: 'job.retried' as const,
    };
    const started = await this.jobs.startNextAttempt(id, run, (job) =>
      this.submission.publish(job, job.attempt, actor.requestId),
    );
    if (!started) throw new NotFoundException(`job ${id} does not exist`);
    return { id, attempt: started.attempt };
  }

  /**
   * Retries failed jobs one by one, oldest first, each in its own transaction
   * and audited like a single retry. A job that was retried (or removed)
   * meanwhile is skipped; when the broker or the database becomes unavailable
   * the call stops and says so.
   */
  async retryFailed(
    request: RetryFailedJobsRequest,
    actor: Actor,
  ): Promise<BulkRetryReport> {
    const ids = await this.jobs.failedIds({
      code: request.code,
      limit: request.limit ?? 100,
    });
    const report: BulkRetryReport = { retried: [], skipped: [] };
    for (const id of ids) {
      try {
        report.retried.push(await this.retry(id, actor));
      } catch (error) {
        if (
          error instanceof JobNotRetryableError ||
          error instanceof NotFoundException
        ) {
          report.skipped.push({ id, reason: error.message });
          continue;
        }
        report.stoppedBecause = (error as Error).message;
        break;
      }
    }
    return report;
  }

  async deadLetterCounts(): Promise<{ jobs: number; events: number }> {
    return {
      jobs: await this.deadJobs.count(),
      events: await this.deadEvents.count(),
    };
  }

  /**
   * Runs the jobs of parked messages again, each as its next attempt, from the
   * job as recorded (not the parked body). A job that finished well, or a
   * message that names no job, stays parked; a message of an attempt the job
   * has moved past is dropped, as the run it would replay was followed by
   * another, and so is one whose job's uploaded input expired.
   */
  replayDeadJobs(limit: number, actor: Actor): Promise<DeadLetterReport> {
    const run = {
      reason: 'replayed from the dead-letter queue',
      retryable: ['failed', 'queued', 'processing'] as const,
      actor,
    };
    return this.audited(
      actor,
      'dead-letters.jobs.replayed',
      this.deadJobs,
      limit,
      async (message) => {
        const id = jobIdOf(message);
        if (!id) return { keep: 'the message names no job' };
        try {
          const started = await this.jobs.startNextAttempt(
            id,
            { ...run, fromAttempt: attemptOf(message) },
            (job) => this.submission.publish(job, job.attempt, actor.requestId),
          );
          await failpoint('replay.after-publish');
          return started ? 'done' : { keep: `job ${id} does not exist` };
        } catch (error) {
          if (error instanceof StaleAttemptError)
            return { drop: error.message };
          // Its input is gone for good: the message can never run again.
          if (error instanceof InputExpiredError)
            return { drop: error.message };
          if (error instanceof JobNotRetryableError)
            return { keep: error.message };
          throw error;
        }
      },
    );
  }

  /**
   * Drops parked job messages; a job that had not finished fails with PURGED,
   * unless the message is of an attempt the job has moved past: the run under
   * way is left alone.
   */
  purgeDeadJobs(limit: number, actor: Actor): Promise<DeadLetterReport> {
    return this.audited(
      actor,
      'dead-letters.jobs.purged',
      this.deadJobs,
      limit,
      async (message) => {
        const id = jobIdOf(message);
        try {
          if (id)
            await this.jobs.recordPurged(
              id,
              attemptOf(message),
              'purged by an operator',
              actor,
            );
          await failpoint('purge.after-record');
          return 'done';
        } catch (error) {
          if (error instanceof StaleAttemptError)
            return { drop: error.message };
          throw error;
        }
      },
    );
  }

  /**
   * Sends parked events back to the results writer (after whatever made the
   * database refuse them is fixed).
   */
  replayDeadEvents(limit: number, actor: Actor): Promise<DeadLetterReport> {
    return this.audited(
      actor,
      'dead-letters.events.replayed',
      this.deadEvents,
      limit,
      async (message) => {
        let payload: unknown;
        try {
          payload = JSON.parse(message.content.toString('utf8'));
        } catch {
          return { keep: 'the message is not JSON' };
        }
        if (!isPlainObject(payload))
          return { keep: 'the message is not a JSON object' };
        await this.publisher.publish(
          MessageType.jobEvent,
          String(message.properties.messageId ?? ''),
          payload,
        );
        return 'done';
      },
    );
  }

  purgeDeadEvents(limit: number, actor: Actor): Promise<DeadLetterReport> {
    return this.audited(
      actor,
      'dead-letters.events.purged',
      this.deadEvents,
      limit,
      () => Promise.resolve('done'),
    );
  }

  /**
   * Drains a dead-letter queue under an audit entry: written before the first
   * message is touched (no entry, no operation), completed with what was done,
   * also when the pass stopped early (and why). The broker's acks and the
   * database cannot share a transaction, so an entry left without figures means
   * the producer died on the way (or the database went away at the end); each
   * job's timeline still shows what happened to it.
   */
  private async audited(
    actor: Actor,
    action: AuditAction,
    queue: DeadLetterQueue,
    limit: number,
    decide: Parameters<DeadLetterQueue['drain']>[1],
  ): Promise<DeadLetterReport> {
    const entry = await this.audit.record({
      actor,
      action,
      target: queue.queue,
      detail: { limit },
    });
    let outcome: Record<string, unknown> = { done: 0, kept: 0, dropped: 0 };
    try {
      const report = await queue.drain(limit, decide);
      outcome = {
        done: report.done.length,
        kept: report.kept.length,
        dropped: report.dropped.length,
        ...(report.stoppedBecause
          ? { stoppedBecause: report.stoppedBecause }
          : {}),
      };
      return report;
    } catch (error) {
      outcome = { ...outcome, stoppedBecause: (error as Error).message };
      throw error;
    } finally {
      // The messages are dealt with by now: the operator gets the report even
      // if its figures cannot be written.
      await this.audit
        .complete(entry, outcome)
        .catch((error) =>
          this.logger.warn(
            `Audit entry ${entry} of ${action} left without its figures: ${(error as Error).message}`,
          ),
        );
    }
  }
}

/** The job a parked job message is for: its messageId. */
function jobIdOf(message: GetMessage): string | null {
  const id = String(message.properties.messageId ?? '');
  return UUID.test(id) ? id : null;
}

/** The attempt a parked job message is of, as a worker would have run it. */
function attemptOf(message: GetMessage): number {
  try {
    return attemptOfJobMessage(JSON.parse(message.content.toString('utf8')));
  } catch {
    return attemptOfJobMessage(undefined);
  }
}
