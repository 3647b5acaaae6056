import { Inject, Injectable, Logger } from '@nestjs/common';
import {
  AuditLogRepository,
  InputExpiredError,
  JobsRepository,
  JobNotRetryableError,
  StaleAttemptError,
} from '@pipeline/database';
import {
  AmqpConnection,
  DeadLetterDecision,
  DeadLetterQueue,
  DeadLetterReport,
  MessagePublisher,
} from '@pipeline/messaging';
import {
  Actor,
  attemptOfJobMessage,
  AuditAction,
  MessageType,
  isPlainObject,
} from '@pipeline/contracts';
import { failpoint } from '@pipeline/failpoints';
import { GetMessage } from 'amqplib';
import { JobSubmissionService } from './job-submission.service';

/** The operations on the dead-letter queues, as the audit log names them. */
export type DeadLetterOperation = Extract<
  AuditAction,
  `dead-letters.${string}`
>;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * What operators do with the dead-letter queues: replay or purge them. Each
 * step is recorded in the job's timeline, with the key that made it, and each
 * operation in the audit log.
 */
@Injectable()
export class DeadLettersService {
  // The log context these operations have always been logged under.
  private readonly logger = new Logger('JobOperationsService');
  private readonly deadJobs: DeadLetterQueue;
  private readonly deadEvents: DeadLetterQueue;

  constructor(
    @Inject(JobsRepository)
    private readonly jobs: Pick<
      JobsRepository,
      'startNextAttempt' | 'recordPurged'
    >,
    @Inject(AuditLogRepository)
    private readonly audit: Pick<AuditLogRepository, 'record' | 'complete'>,
    private readonly submission: JobSubmissionService,
    @Inject(MessagePublisher)
    private readonly publisher: Pick<MessagePublisher, 'publish'>,
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

  async deadLetterCounts(): Promise<{ jobs: number; events: number }> {
    return {
      jobs: await this.deadJobs.count(),
      events: await this.deadEvents.count(),
    };
  }

  /**
   * What each operation does with a parked message (see drain):
   * - replaying a job message runs its job again, as its next attempt, from
   *   the job as recorded (not the parked body). A job that finished well, or
   *   a message that names no job, stays parked; a message of an attempt the
   *   job has moved past is dropped, as the run it would replay was followed
   *   by another, and so is one whose job's uploaded input expired;
   * - purging a job message fails a job that had not finished with PURGED,
   *   unless the message is of an attempt the job has moved past: the run
   *   under way is left alone;
   * - replaying an event sends it back to the results writer (after whatever
   *   made the database refuse it is fixed);
   * - purging an event only drops it.
   */
  private readonly steps: Record<
    DeadLetterOperation,
    (actor: Actor) => Decide
  > = {
    'dead-letters.jobs.replayed': (actor) =>
      decidingOn(REPLAY_REFUSALS, (message) => this.replayJob(message, actor)),
    'dead-letters.jobs.purged': (actor) =>
      decidingOn(PURGE_REFUSALS, (message) => this.purgeJob(message, actor)),
    'dead-letters.events.replayed': () => (message) =>
      this.replayEvent(message),
    'dead-letters.events.purged': () => () => Promise.resolve('done'),
  };

  /** Goes through up to `limit` parked messages as `operation` says. */
  drain(
    operation: DeadLetterOperation,
    limit: number,
    actor: Actor,
  ): Promise<DeadLetterReport> {
    const queue = operation.startsWith('dead-letters.jobs.')
      ? this.deadJobs
      : this.deadEvents;
    return this.audited(
      actor,
      operation,
      queue,
      limit,
      this.steps[operation](actor),
    );
  }

  private async replayJob(
    message: GetMessage,
    actor: Actor,
  ): Promise<DeadLetterDecision> {
    const id = jobIdOf(message);
    if (!id) return { keep: 'the message names no job' };
    const started = await this.jobs.startNextAttempt(
      id,
      {
        reason: 'replayed from the dead-letter queue',
        retryable: ['failed', 'queued', 'processing'],
        actor,
        fromAttempt: attemptOf(message),
      },
      (job) => this.submission.publish(job, job.attempt, actor.requestId),
    );
    await failpoint('replay.after-publish');
    return started ? 'done' : { keep: `job ${id} does not exist` };
  }

  private async purgeJob(
    message: GetMessage,
    actor: Actor,
  ): Promise<DeadLetterDecision> {
    const id = jobIdOf(message);
    if (id)
      await this.jobs.recordPurged(
        id,
        attemptOf(message),
        'purged by an operator',
        actor,
      );
    await failpoint('purge.after-record');
    return 'done';
  }

  private async replayEvent(message: GetMessage): Promise<DeadLetterDecision> {
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

type Decide = Parameters<DeadLetterQueue['drain']>[1];

/**
 * Errors a step on a parked message may throw that say what becomes of the
 * message, first match first; any other error stops the pass.
 */
type Refusals = Array<[new (...args: never[]) => Error, 'keep' | 'drop']>;

/**
 * A message of an attempt the job has moved past is dropped, as the run it
 * would replay was followed by another, and so is one whose job's uploaded
 * input expired (it can never run again); one whose job cannot run again now
 * stays parked.
 */
const REPLAY_REFUSALS: Refusals = [
  [StaleAttemptError, 'drop'],
  [InputExpiredError, 'drop'],
  [JobNotRetryableError, 'keep'],
];

/** A message of an attempt the job has moved past leaves the run alone. */
const PURGE_REFUSALS: Refusals = [[StaleAttemptError, 'drop']];

function decidingOn(refusals: Refusals, decide: Decide): Decide {
  return async (message) => {
    try {
      return await decide(message);
    } catch (error) {
      const refusal = refusals.find(([kind]) => error instanceof kind);
      if (!refusal) throw error;
      const reason = (error as Error).message;
      return refusal[1] === 'drop' ? { drop: reason } : { keep: reason };
    }
  };
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
