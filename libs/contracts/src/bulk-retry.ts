import { IsIn, IsInt, IsOptional, Max, Min } from 'class-validator';
import { JobErrorCode } from './errors';

const ERROR_CODES = Object.values(JobErrorCode);

/** `POST /v1/jobs/retry-failed`: run failed jobs again, oldest first. */
export class RetryFailedJobsRequest {
  /**
   * Only the jobs that failed with this code; without it, every failed job but
   * the cancelled ones.
   */
  @IsOptional()
  @IsIn(ERROR_CODES, {
    message: `code must be one of ${ERROR_CODES.join(', ')}`,
  })
  code?: JobErrorCode;

  /** Jobs to retry in this call. */
  @IsOptional() @IsInt() @Min(1) @Max(1000) limit?: number;
}

/**
 * What a bulk retry did: the jobs queued again, those left (retried or gone
 * meanwhile), and why it stopped early, if it did.
 */
export interface BulkRetryReport {
  retried: Array<{ id: string; attempt: number }>;
  skipped: Array<{ id: string; reason: string }>;
  /**
   * The broker or the database became unavailable: the jobs retried until then
   * stay retried.
   */
  stoppedBecause?: string;
}
