import {
  BadRequestException,
  ConflictException,
  ForbiddenException,
  Inject,
  Injectable,
  NotFoundException,
} from '@nestjs/common';
import { Caller, jobOwnerFilter } from '@pipeline/auth';
import { isStuck, JobEventView, JobStatus, JobView } from '@pipeline/contracts';
import { JobsRepository, StoredJob } from '@pipeline/database';
import { ProducerConfig } from '@pipeline/platform';
import { OutputsExpiredError } from './errors';
import { decodeCursor, encodeCursor, idPrefixRange } from './job-list-query';

/** What reading jobs back needs of the jobs table. */
export type JobReads = Pick<JobsRepository, 'findById' | 'list' | 'timeline'>;

/** Which of the caller's jobs a listing shows; every field given narrows it. */
export interface JobListFilter {
  status?: JobStatus;
  errorCode?: string;
  /** The key that submitted them: another key than the caller's, admin only. */
  apiKeyId?: string;
  /** Created at or after (ISO 8601). */
  createdFrom?: string;
  /** Created before (ISO 8601). */
  createdTo?: string;
  /** Only the jobs processing for longer than STUCK_AFTER_S, or flagged. */
  stuck?: boolean;
  /** Jobs whose id starts with these hex digits. */
  idPrefix?: string;
  /** Where the page starts: a `nextCursor` of the previous page. */
  cursor?: string;
  limit: number;
}

/** A page of jobs, and the cursor of the next one (none on the last). */
export interface JobViewPage {
  jobs: JobView[];
  nextCursor?: string;
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

  /** A page of the caller's jobs (an admin's: every job), newest first. */
  async list(
    caller: Caller,
    filter: JobListFilter,
    now = Date.now(),
  ): Promise<JobViewPage> {
    const page = await this.jobs.list({
      status: filter.status,
      errorCode: filter.errorCode,
      apiKeyId: this.keyToList(caller, filter.apiKeyId),
      createdFrom: optionalDate(filter.createdFrom),
      createdTo: optionalDate(filter.createdTo),
      stuckBefore: filter.stuck
        ? new Date(now - this.config.STUCK_AFTER_S * 1000)
        : undefined,
      idRange: filter.idPrefix
        ? checked('idPrefix', idPrefixRange(filter.idPrefix))
        : undefined,
      after: filter.cursor
        ? checked('cursor', decodeCursor(filter.cursor))
        : undefined,
      limit: filter.limit,
    });
    return {
      jobs: page.jobs.map((job) => this.toView(job, now)),
      ...(page.next ? { nextCursor: encodeCursor(page.next) } : {}),
    };
  }

  /**
   * Whose jobs a listing shows: a key's own (asking for another key's is
   * refused), or for an admin the key it names, if any.
   */
  private keyToList(caller: Caller, asked?: string): string | undefined {
    const own = jobOwnerFilter(caller);
    if (own !== undefined && asked !== undefined && asked !== own)
      throw new ForbiddenException(
        "apiKeyId: only an admin key may list another key's jobs",
      );
    return own ?? asked;
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

function optionalDate(iso: string | undefined): Date | undefined {
  return iso === undefined ? undefined : new Date(iso);
}

/** A parameter's parsed value; a 400 naming it when it did not parse. */
function checked<T>(name: string, value: T | null): T {
  if (value === null) throw new BadRequestException(`${name} is malformed`);
  return value;
}
