import { Injectable } from '@nestjs/common';

/** What this worker has done since it started, as its heartbeats report it. */
@Injectable()
export class WorkerActivity {
  readonly startedAt = new Date().toISOString();
  jobsSucceeded = 0;
  jobsFailed = 0;
  /** Job messages held: processing, or waiting their turn. */
  inFlight = 0;
  /** Jobs processing now (at most WORKER_CONCURRENCY). */
  processing = 0;
}
