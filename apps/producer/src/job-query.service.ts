import {
  ConflictException,
  Inject,
  Injectable,
  NotFoundException,
} from '@nestjs/common';
import { Caller, jobOwnerFilter } from '@pipeline/auth';
import { isStuck, JobEventView, JobStatus, JobView } from '@pipeline/contracts';
import { JobsRepository, StoredJob } from '@pipeline/database';
import { ProducerConfig } from '@pipeline/platform';
import { OutputsExpiredError } from './errors';

/** What reading jobs back needs of the jobs table. */
export type JobReads = Pick<JobsRepository, 'findById' | 'list' | 'timeline'>;

/** Which of the caller's jobs a listing shows. */
export interface JobListFilter {
  status?: JobStatus;
  /** Only the jobs processing for longer than STUCK_AFTER_S. */
  stuck?: boolean;
  limit: number;
}

/**
 * Jobs as their submitters see them: a key reads its own jobs, an admin key
 * every job; another key's job is answered as if it did not exist.
 */
@Injectable()
export class JobQueryService {
  constructor(
    @Inject(JobsRepository) private readonly jobs: JobReads,
    @Inject(ProducerConfig)
    private readonly config: Pick<ProducerConfig, 'STUCK_AFTER_S'>,
  ) {}

  /** The job, if the caller may see it. */
  async find(caller: Caller, id: string): Promise<StoredJob> {
    const job = await this.jobs.findById(id, jobOwnerFilter(caller));
    if (!job) throw new NotFoundException(`job ${id} does not exist`);
    return job;
  }

  async view(caller: Caller, id: string): Promise<JobView> {
    return this.toView(await this.find(caller, id));
  }

  /** The caller's jobs (an admin's: every job), newest first. */
  async list(
    caller: Caller,
    filter: JobListFilter,
    now = Date.now(),
  ): Promise<JobView[]> {
    const stuckBefore = filter.stuck
      ? new Date(now - this.config.STUCK_AFTER_S * 1000)
      : undefined;
    const jobs = await this.jobs.list({
      status: filter.status,
      limit: filter.limit,
      stuckBefore,
      ownedBy: jobOwnerFilter(caller),
    });
    return jobs.map((job) => this.toView(job, now));
  }

  async timeline(caller: Caller, id: string): Promise<JobEventView[]> {
    await this.find(caller, id);
    return this.jobs.timeline(id);
  }

  /**
   * A succeeded job whose outputs are still kept: 409 before, 410 once the
   * retention sweep removed them.
   */
  async finished(caller: Caller, id: string): Promise<StoredJob> {
    const job = await this.find(caller, id);
    if (job.status !== 'succeeded') {
      throw new ConflictException(
        job.status === 'failed'
          ? `job ${id} failed: ${job.error?.message}`
          : `job ${id} is ${job.status}; its result is not ready`,
      );
    }
    if (job.outputsExpiredAt !== null)
      throw new OutputsExpiredError(id, job.outputsExpiredAt);
    return job;
  }

  /** The job as the API shows it: where its outputs are stored stays inside. */
  toView(job: StoredJob, now = Date.now()): JobView {
    return {
      ...job,
      attempts: job.deliveries,
      stuck: isStuck(job, this.config.STUCK_AFTER_S * 1000, now),
      outputs: job.outputs.map(
        ({ key: _key, sha256: _sha256, ...output }) => output,
      ),
    };
  }
}
