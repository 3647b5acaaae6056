import { Caller } from '@pipeline/auth';
import { Actor, JobEventView } from '@pipeline/contracts';
import {
  IdempotentMatch,
  JobListQuery,
  JobPage,
  JobNotCancellableError,
  JobNotRetryableError,
  NewJob,
  NextAttempt,
  RecordedJob,
  StoredJob,
} from '@pipeline/database';
import { JobChanges } from '../src/job-operations.service';
import { JobReads } from '../src/job-query.service';
import { JobRecords } from '../src/job-submission.service';

/** A job as the in-memory table keeps it. */
interface Row {
  job: StoredJob;
  recorded: RecordedJob;
  idempotency?: { key: string; requestHash: string };
  published: boolean;
  events: JobEventView[];
}

/**
 * The jobs table in memory, for the producer's services: what they read and
 * write of it, with the rules their logic relies on (idempotency keys per API
 * key, owners, which jobs may run again or be cancelled).
 */
export class InMemoryJobs implements JobRecords, JobReads, JobChanges {
  readonly rows = new Map<string, Row>();

  insertQueued(job: NewJob): Promise<boolean> {
    const { idempotency, apiKeyId, inputBytes: _bytes, ...recorded } = job;
    if (idempotency && this.underKey(apiKeyId, idempotency.key))
      return Promise.resolve(false);
    this.rows.set(job.id, {
      job: storedJob(job.id, apiKeyId, job.createdAt),
      recorded,
      idempotency,
      published: false,
      events: [event('queued', 1, job.createdAt)],
    });
    return Promise.resolve(true);
  }

  delete(id: string): Promise<void> {
    this.rows.delete(id);
    return Promise.resolve();
  }

  markPublished(id: string): Promise<void> {
    const row = this.rows.get(id);
    if (row) row.published = true;
    return Promise.resolve();
  }

  findByIdempotencyKey(
    apiKeyId: string,
    key: string,
  ): Promise<IdempotentMatch | null> {
    const row = this.underKey(apiKeyId, key);
    return Promise.resolve(
      row
        ? {
            id: row.job.id,
            requestHash: row.idempotency!.requestHash,
            confirmed: row.published,
          }
        : null,
    );
  }

  findRecorded(id: string): Promise<RecordedJob | null> {
    return Promise.resolve(this.rows.get(id)?.recorded ?? null);
  }

  findById(id: string, ownedBy?: string): Promise<StoredJob | null> {
    const row = this.rows.get(id);
    return Promise.resolve(
      row && ownedByOrAny(row.job, ownedBy) ? row.job : null,
    );
  }

  list(filter: JobListQuery): Promise<JobPage> {
    const stuckSince = (job: StoredJob, before: Date) =>
      job.stuckReason !== null ||
      (job.status === 'processing' &&
        Date.parse(job.startedAt!) < before.getTime());
    const jobs = [...this.rows.values()]
      .map((row) => row.job)
      .filter(
        (job) =>
          (!filter.status || job.status === filter.status) &&
          (!filter.stuckBefore || stuckSince(job, filter.stuckBefore)) &&
          ownedByOrAny(job, filter.apiKeyId),
      )
      .sort((a, b) => b.createdAt.localeCompare(a.createdAt));
    return Promise.resolve({ jobs: jobs.slice(0, filter.limit) });
  }

  timeline(id: string): Promise<JobEventView[]> {
    return Promise.resolve(this.rows.get(id)?.events ?? []);
  }

  failedIds(filter: { code?: string; limit: number }): Promise<string[]> {
    const ids = [...this.rows.values()]
      .map((row) => row.job)
      .filter(
        (job) =>
          job.status === 'failed' &&
          (filter.code
            ? job.error?.code === filter.code
            : job.error?.code !== 'CANCELLED'),
      )
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt))
      .map((job) => job.id);
    return Promise.resolve(ids.slice(0, filter.limit));
  }

  async startNextAttempt(
    id: string,
    run: NextAttempt,
    publish: (job: RecordedJob & { attempt: number }) => Promise<void>,
  ): Promise<{ attempt: number } | null> {
    const row = this.rows.get(id);
    if (!row) return null;
    if (!run.retryable.includes(row.job.status))
      throw new JobNotRetryableError(id, row.job.status);
    const attempt = row.job.attempt + 1;
    await publish({ ...row.recorded, attempt });
    Object.assign(row.job, { status: 'queued', attempt, error: null });
    row.events.push(event('retried', attempt, new Date(), run.reason));
    return { attempt };
  }

  cancel(
    id: string,
    ownedBy: string | undefined,
    actor: Actor,
  ): Promise<{ attempt: number } | null> {
    const row = this.rows.get(id);
    if (!row || !ownedByOrAny(row.job, ownedBy)) return Promise.resolve(null);
    const { status, attempt } = row.job;
    if (status === 'succeeded' || status === 'failed')
      return Promise.reject(new JobNotCancellableError(id, status));
    row.job.status = 'failed';
    row.job.error = {
      code: 'CANCELLED',
      message: `cancelled by ${actor.apiKeyId}`,
    };
    return Promise.resolve({ attempt });
  }

  /** Puts a job in the table as it would be by now. */
  put(job: Partial<StoredJob> & { id: string; apiKeyId: string }): StoredJob {
    const stored = {
      ...storedJob(job.id, job.apiKeyId, new Date()),
      ...job,
    };
    this.rows.set(job.id, {
      job: stored,
      recorded: {
        id: job.id,
        source: { kind: 'images', path: 'in.jpg' },
        operations: stored.operations,
        output: { format: 'jpeg' },
        createdAt: new Date(stored.createdAt),
      },
      published: true,
      events: [],
    });
    return stored;
  }

  private underKey(apiKeyId: string, key: string): Row | undefined {
    return [...this.rows.values()].find(
      (row) => row.job.apiKeyId === apiKeyId && row.idempotency?.key === key,
    );
  }
}

/** A key with the scopes given, and no limits. */
export function callerWith(keyId: string, ...scopes: Caller['scopes']): Caller {
  return {
    keyId,
    name: keyId,
    scopes,
    limits: {
      requestsPerWindow: 0,
      jobsInFlight: 0,
      storedBytes: 0,
      jobsPerDay: 0,
    },
    expiresAt: null,
  };
}

function ownedByOrAny(job: StoredJob, ownedBy: string | undefined): boolean {
  return ownedBy === undefined || job.apiKeyId === ownedBy;
}

function storedJob(id: string, apiKeyId: string, createdAt: Date): StoredJob {
  return {
    id,
    status: 'queued',
    attempt: 1,
    deliveries: 0,
    stuckReason: null,
    operations: [],
    variants: null,
    output: null,
    outputs: [],
    error: null,
    workerId: null,
    apiKeyId,
    traceId: null,
    createdAt: createdAt.toISOString(),
    startedAt: null,
    finishedAt: null,
    inputExpiredAt: null,
    outputsExpiredAt: null,
  };
}

function event(
  type: JobEventView['type'],
  attempt: number,
  at: Date,
  detail: unknown = null,
): JobEventView {
  return {
    type,
    attempt,
    delivery: null,
    workerId: null,
    at: at.toISOString(),
    detail,
  };
}
