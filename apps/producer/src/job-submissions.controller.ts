import { Body, Req, Res } from '@nestjs/common';
import { Caller, CurrentCaller } from '@pipeline/auth';
import { FastifyReply, FastifyRequest } from 'fastify';
import { Action, ApiController } from './api-routes';
import { BatchItemResult, JobBatchService } from './job-batch.service';
import { AcceptedJob, JobIntakeService } from './job-intake.service';
import {
  CorrelationId,
  correlationIdOf,
  IdempotencyKey,
} from './request-context';

/** Jobs submitted by a key with jobs:write. */
@ApiController('v1/jobs', 'jobs:write')
export class JobSubmissionsController {
  constructor(
    private readonly intake: JobIntakeService,
    private readonly batches: JobBatchService,
  ) {}

  /**
   * Takes a job as multipart (an uploaded image) or JSON (a file in the images
   * folder, or a URL); 202 once the broker has it. With an Idempotency-Key, a
   * repeat of the same request returns the first job.
   */
  @Action('/', 202)
  async submit(
    @CurrentCaller() caller: Caller,
    @IdempotencyKey() idempotencyKey: string | undefined,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<AcceptedJob> {
    const by = {
      caller,
      idempotencyKey,
      correlationId: correlationIdOf(request),
    };
    const accepted = request.isMultipart()
      ? await this.intake.submitUpload(by, request)
      : await this.intake.submitJson(by, request.body);
    reply.header('Location', `/v1/jobs/${accepted.id}`);
    return accepted;
  }

  /**
   * Several JSON jobs in one request, each validated and accepted on its own:
   * the answer lists, in order, the id of each accepted job or the error that
   * kept it out.
   */
  @Action('batch', 200)
  submitBatch(
    @CurrentCaller() caller: Caller,
    @Body() body: unknown,
    @CorrelationId() correlationId: string,
  ): Promise<{ jobs: BatchItemResult[] }> {
    return this.batches.submit(caller, body, correlationId);
  }
}
