import { Get, Param, Res } from '@nestjs/common';
import { Caller, CurrentCaller } from '@pipeline/auth';
import { FastifyReply } from 'fastify';
import { JobResultService, ResultAnswer } from './job-result.service';
import { ApiController, IdParam } from './api-routes';

/**
 * A succeeded job's outputs, for a key with jobs:read: 409 before the job
 * succeeded, 410 once the retention sweep removed them. The handlers answer
 * themselves (a redirect's status is its own); an error before the answer
 * goes to the exception filter as usual.
 */
@ApiController('v1/jobs', 'jobs:read')
export class JobResultsController {
  constructor(private readonly results: JobResultService) {}

  /** The job's first (for most jobs its only) output. */
  @Get(':id/result')
  async result(
    @CurrentCaller() caller: Caller,
    @IdParam() id: string,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    send(reply, await this.results.open(caller, id));
  }

  /**
   * One output by name: a variant's, or `default` for a job with one output.
   */
  @Get(':id/result/:name')
  async namedResult(
    @CurrentCaller() caller: Caller,
    @IdParam() id: string,
    @Param('name') name: string,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    send(reply, await this.results.open(caller, id, name));
  }
}

/**
 * The output's bytes, or with RESULT_DELIVERY=redirect a 302 to a short-lived
 * presigned URL of them.
 */
function send(reply: FastifyReply, answer: ResultAnswer): void {
  if ('redirect' in answer) {
    void reply
      .header('Cache-Control', 'private, no-store')
      .redirect(answer.redirect, 302);
    return;
  }
  void reply
    .status(200)
    .type(answer.contentType)
    .header('Content-Length', answer.sizeBytes)
    .header('Content-Disposition', answer.disposition)
    .send(answer.body);
}
