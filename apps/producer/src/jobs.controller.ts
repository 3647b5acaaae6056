import { Get, Query } from '@nestjs/common';
import { Caller, CurrentCaller } from '@pipeline/auth';
import { JOB_STATUSES, JobStatus } from '@pipeline/contracts';
import { Transform, Type } from 'class-transformer';
import { IsBoolean, IsIn, IsInt, IsOptional, Max, Min } from 'class-validator';
import { JobListFilter, JobQueryService } from './job-query.service';
import { ApiController, IdParam } from './api-routes';

class ListJobsQuery implements JobListFilter {
  @IsOptional() @IsIn(JOB_STATUSES) status?: JobStatus;
  /** Only the jobs processing for longer than STUCK_AFTER_S. */
  @IsOptional()
  @Transform(({ value }) => value === 'true' || value === true)
  @IsBoolean()
  stuck?: boolean;
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(500) limit = 50;
}

/**
 * Jobs read back: a key with jobs:read reads its own jobs; admin keys see
 * every job.
 */
@ApiController('v1/jobs', 'jobs:read')
export class JobsController {
  constructor(private readonly query: JobQueryService) {}

  /** The caller's jobs (an admin's: every job), newest first. */
  @Get()
  list(@CurrentCaller() caller: Caller, @Query() query: ListJobsQuery) {
    return this.query.list(caller, query);
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
