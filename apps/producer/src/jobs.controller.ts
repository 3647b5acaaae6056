import { Get, Query, Req, Res } from '@nestjs/common';
import { Caller, CurrentCaller } from '@pipeline/auth';
import { JobView } from '@pipeline/contracts';
import { FastifyReply, FastifyRequest } from 'fastify';
import { JobQueryService } from './job-query.service';
import { ListJobsQuery, nextPageLink } from './job-list-query';
import { ApiController, IdParam } from './api-routes';

/**
 * Jobs read back: a key with jobs:read reads its own jobs; admin keys see
 * every job.
 */
@ApiController('v1/jobs', 'jobs:read')
export class JobsController {
  constructor(private readonly query: JobQueryService) {}

  /**
   * A page of the caller's jobs (an admin's: every job), newest first; the
   * next page's cursor in the `Next-Cursor` and `Link` headers.
   */
  @Get()
  async list(
    @CurrentCaller() caller: Caller,
    @Query() query: ListJobsQuery,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<JobView[]> {
    const page = await this.query.list(caller, query);
    if (page.nextCursor)
      void reply
        .header('Next-Cursor', page.nextCursor)
        .header('Link', nextPageLink(request.url, page.nextCursor));
    return page.jobs;
  }
  @Get(':id')
  get(@CurrentCaller() caller: Caller, @IdParam() id: string) {
    return this.query.view(caller, id);
  }

  /**
   * The job's timeline: queued, each delivery's start, retries, the outcome,
   * operators' steps.
   */
  @Get(':id/events')
  events(@CurrentCaller() caller: Caller, @IdParam() id: string) {
    return this.query.timeline(caller, id);
  }
}
