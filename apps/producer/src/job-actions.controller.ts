import { Body, Res } from '@nestjs/common';
import { Caller, CurrentCaller } from '@pipeline/auth';
import {
  Actor,
  BulkRetryReport,
  JobStatus,
  RetryFailedJobsRequest,
} from '@pipeline/contracts';
import { FastifyReply } from 'fastify';
import { JobOperationsService } from './job-operations.service';
import { Action, ApiController, IdParam } from './api-routes';
import { CurrentActor } from './request-context';

/**
 * What is done to accepted jobs: admin keys run failed jobs again; a key with
 * jobs:write cancels its own jobs (an admin key any job).
 */
@ApiController('v1/jobs')
export class JobActionsController {
  constructor(private readonly operations: JobOperationsService) {}

  /**
   * Runs a failed job again, as its next attempt; 409 for a job that has not
   * failed.
   */
  @Action(':id/retry', 202, 'admin')
  async retry(
    @IdParam() id: string,
    @CurrentActor() actor: Actor,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<{ id: string; status: JobStatus; attempt: number }> {
    const { attempt } = await this.operations.retry(id, actor);
    reply.header('Location', `/v1/jobs/${id}`);
    return { id, status: 'queued', attempt };
  }

  /**
   * Runs failed jobs again (admin), oldest first: `code` picks which; the
   * cancelled ones only when asked for by code.
   */
  @Action('retry-failed', 200, 'admin')
  retryFailed(
    @Body() request: RetryFailedJobsRequest,
    @CurrentActor() actor: Actor,
  ): Promise<BulkRetryReport> {
    return this.operations.retryFailed(request, actor);
  }

  /**
   * Cancels a queued or processing job of the caller's (an admin's: any job):
   * it fails with CANCELLED at once; 409 for a finished job.
   */
  @Action(':id/cancel', 200, 'jobs:write')
  cancel(
    @CurrentCaller() caller: Caller,
    @CurrentActor() actor: Actor,
    @IdParam() id: string,
  ) {
    return this.operations.cancel(caller, actor, id);
  }
}
