import { Inject, Injectable, NotFoundException } from '@nestjs/common';
import { Caller, jobOwnerFilter } from '@pipeline/auth';
import {
  Actor,
  BulkRetryReport,
  JobView,
  RetryFailedJobsRequest,
} from '@pipeline/contracts';
import { JobNotRetryableError, JobsRepository } from '@pipeline/database';
import { JobQueryService } from './job-query.service';
import { JobSubmissionService } from './job-submission.service';

/** What acting on jobs needs of the jobs table. */
export type JobChanges = Pick<
  JobsRepository,
  'startNextAttempt' | 'failedIds' | 'cancel'
>;

/**
 * What is done to jobs after they were accepted: an operator runs a failed
 * job again, a submitter cancels one. Each step is recorded in the job's
 * timeline, with the key that made it, and a retry in the audit log.
 */
@Injectable()
export class JobOperationsService {
  constructor(
    private readonly query: JobQueryService,
    @Inject(JobsRepository) private readonly jobs: JobChanges,
    @Inject(JobSubmissionService)
    private readonly submission: Pick<JobSubmissionService, 'publish'>,
  ) {}

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

  /**
   * Cancels a queued or processing job of the caller's (an admin's: any job):
   * it fails with CANCELLED at once; a finished job cannot be.
   */
  async cancel(caller: Caller, actor: Actor, id: string): Promise<JobView> {
    if (!(await this.jobs.cancel(id, jobOwnerFilter(caller), actor)))
      throw new NotFoundException(`job ${id} does not exist`);
    return this.query.view(caller, id);
  }
}
