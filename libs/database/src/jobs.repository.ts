import {
  Actor,
  AuditAction,
  JobErrorCode,
  jobEventId,
  operatorEventId,
  queuedEventId,
  JobEventView,
  JobStatus,
  JobView,
  Operation,
  StoredOutput,
  VariantSpec,
} from '@pipeline/contracts';
import { failpoint } from '@pipeline/failpoints';
import { Pool, PoolClient } from 'pg';
import { recordAudit } from './audit-log.repository';
import { Batcher } from './batcher';
import {
  RECORDED_COLUMNS,
  RecordedJob,
  RecordedRow,
  toRecordedJob,
} from './recorded-job';
import { ADD_USAGE, COUNT_USAGE, UTC_TODAY } from './quota-usage';
import { preparedStatement } from './prepared-statement';
import { inTransaction } from './transaction';

export type { RecordedJob } from './recorded-job';

export interface NewJob extends RecordedJob {
  /** The API key that submits the job, and owns it. */
  apiKeyId: string;
  /**
   * With an idempotency key, a second job under the same key is not recorded.
   */
  idempotency?: { key: string; requestHash: string };
  /** Size of an uploaded input: counted in the key's stored bytes. */
  inputBytes?: number;
  /** The trace the job was submitted in, when tracing is on. */
  traceId?: string;
}

export interface JobCounts {
  byStatus: Record<JobStatus, number>;
  stuck: number;
  finishedSince: { succeeded: number; failed: number };
}

/** A job can run again only from these states. */
export class JobNotRetryableError extends Error {
  constructor(
    readonly jobId: string,
    readonly status: JobStatus,
  ) {
    super(
      `job ${jobId} is ${status}; only a failed job, or one flagged stuck, can be retried`,
    );
    this.name = 'JobNotRetryableError';
  }
}

/**
 * The uploaded input of the job was removed by the retention sweep: there is
 * nothing to run again.
 */
export class InputExpiredError extends JobNotRetryableError {
  constructor(
    jobId: string,
    status: JobStatus,
    readonly expiredAt: Date,
  ) {
    super(jobId, status);
    this.message = `job ${jobId} cannot run again: its uploaded input expired at ${expiredAt.toISOString()} (RETENTION_UPLOADS_S) and was removed; submit the image again as a new job`;
    this.name = 'InputExpiredError';
  }
}

/**
 * An operator action names an attempt the job has moved past (a parked message
 * of an earlier run): acting on it would touch the run now under way.
 */
export class StaleAttemptError extends Error {
  constructor(
    readonly jobId: string,
    readonly namedAttempt: number,
    readonly currentAttempt: number,
  ) {
    super(
      `the message is of attempt ${namedAttempt} of job ${jobId}, which is at attempt ${currentAttempt} now`,
    );
    this.name = 'StaleAttemptError';
  }
}

/** The job already recorded under an idempotency key. */
export interface IdempotentMatch {
  id: string;
  requestHash: string;
  /**
   * Whether the broker confirmed it; until then the first request may still
   * fail.
   */
  confirmed: boolean;
}

interface JobRow {
  id: string;
  status: JobStatus;
  attempt: number;
  deliveries: number;
  operations: Operation[];
  variants: VariantSpec[] | null;
  outputs: Array<{
    name: string;
    format: StoredOutput['format'];
    width: number;
    height: number;
    size_bytes: number;
    storage_key: string;
    sha256: string | null;
  }>;
  error_code: string | null;
  error_message: string | null;
  stuck_reason: string | null;
  worker_id: string | null;
  api_key_id: string | null;
  trace_id: string | null;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
  input_expired_at: Date | null;
  outputs_expired_at: Date | null;
}

/**
 * A job as stored, with what the API does not show: where its outputs are kept.
 */
export interface StoredJob extends Omit<
  JobView,
  'outputs' | 'stuck' | 'attempts'
> {
  outputs: StoredOutput[];
}

const JOB_COLUMNS = `id, status, attempt, deliveries, operations, variants, error_code, error_message, stuck_reason, worker_id, api_key_id, trace_id, created_at, started_at, finished_at,
  input_expired_at, outputs_expired_at,
  COALESCE((SELECT jsonb_agg(jsonb_build_object('name', o.name, 'format', o.format, 'width', o.width, 'height', o.height,
                                                'size_bytes', o.size_bytes, 'storage_key', o.storage_key, 'sha256', o.sha256) ORDER BY o.position)
            FROM job_outputs o WHERE o.job_id = jobs.id), '[]'::jsonb) AS outputs`;

function toStoredJob(row: JobRow): StoredJob {
  const outputs = row.outputs.map((o) => ({
    name: o.name,
    format: o.format,
    width: o.width,
    height: o.height,
    sizeBytes: Number(o.size_bytes),
    key: o.storage_key,
    sha256: o.sha256 ?? undefined,
  }));
  return {
    id: row.id,
    status: row.status,
    attempt: row.attempt,
    deliveries: row.deliveries,
    operations: row.operations,
    variants: row.variants,
    output:
      outputs.length > 0
        ? {
            format: outputs[0].format,
            width: outputs[0].width,
            height: outputs[0].height,
            sizeBytes: outputs[0].sizeBytes,
          }
        : null,
    outputs,
    error: row.error_code
      ? { code: row.error_code, message: row.error_message ?? '' }
      : null,
    stuckReason:
      row.status === 'queued' || row.status === 'processing'
        ? row.stuck_reason
        : null,
    workerId: row.worker_id,
    apiKeyId: row.api_key_id,
    traceId: row.trace_id,
    createdAt: row.created_at.toISOString(),
    startedAt: row.started_at?.toISOString() ?? null,
    finishedAt: row.finished_at?.toISOString() ?? null,
    inputExpiredAt: row.input_expired_at?.toISOString() ?? null,
    outputsExpiredAt: row.outputs_expired_at?.toISOString() ?? null,
  };
}

/**
 * The SQL condition of a stuck job: unfinished and flagged by the sweeper, or
 * processing since before the time in the statement parameter `stuckBefore`
 * (e.g. `$3`).
 */
function stuckCondition(stuckBefore: string): string {
  return `(status IN ('queued', 'processing') AND stuck_reason IS NOT NULL OR status = 'processing' AND started_at < ${stuckBefore})`;
}

/** Where a page of jobs starts: just past this job, newest first. */
export interface JobPosition {
  /** The job's creation time to the microsecond, as PostgreSQL keeps it. */
  createdAt: string;
  id: string;
}

/** Which jobs a page lists; every field given narrows it. */
export interface JobListQuery {
  status?: JobStatus;
  errorCode?: string;
  /** The key that submitted them. */
  apiKeyId?: string;
  /** Created at or after. */
  createdFrom?: Date;
  /** Created before. */
  createdTo?: Date;
  /** Only stuck jobs: flagged by the sweeper, or processing since before. */
  stuckBefore?: Date;
  /** Ids from `first` to `last` (both included): those starting alike. */
  idRange?: { first: string; last: string };
  after?: JobPosition;
  limit: number;
}

export interface JobPage {
  jobs: StoredJob[];
  next?: JobPosition;
}

/** A job's creation time in UTC to the microsecond (a JS Date keeps ms). */
const POSITION_AT = `to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

/**
 * The WHERE conditions of a page, one per filter given, and their parameters:
 * only what is asked for is in the statement, so that the planner picks the
 * index of the filter at hand.
 */
function listConditions(query: JobListQuery): {
  where: string[];
  params: unknown[];
} {
  const where: string[] = [];
  const params: unknown[] = [];
  const add = (
    condition: (...refs: string[]) => string,
    ...values: unknown[]
  ) => {
    const refs = values.map((value) => `$${params.push(value)}`);
    where.push(condition(...refs));
  };
  if (query.status) add((s) => `status = ${s}`, query.status);
  if (query.errorCode) add((c) => `error_code = ${c}`, query.errorCode);
  if (query.apiKeyId) add((k) => `api_key_id = ${k}::uuid`, query.apiKeyId);
  if (query.createdFrom)
    add(
      (t) => `created_at >= ${t}::timestamptz`,
      query.createdFrom.toISOString(),
    );
  if (query.createdTo)
    add((t) => `created_at < ${t}::timestamptz`, query.createdTo.toISOString());
  if (query.stuckBefore)
    add(
      (t) =>
        `status IN ('queued', 'processing') AND ${stuckCondition(`${t}::timestamptz`)}`,
      query.stuckBefore.toISOString(),
    );
  if (query.idRange)
    add(
      (a, b) => `id BETWEEN ${a}::uuid AND ${b}::uuid`,
      query.idRange.first,
      query.idRange.last,
    );
  if (query.after)
    add(
      (t, i) => `(created_at, id) < (${t}::timestamptz, ${i}::uuid)`,
      query.after.createdAt,
      query.after.id,
    );
  return { where, params };
}

/** A finished job cannot be cancelled: its outcome is final. */
export class JobNotCancellableError extends Error {
  constructor(
    readonly jobId: string,
    readonly status: JobStatus,
  ) {
    super(
      `job ${jobId} is ${status} already; only a queued or processing job can be cancelled`,
    );
    this.name = 'JobNotCancellableError';
  }
}

/** Why a job runs again, who made it, and which job states allow it. */
export interface NextAttempt {
  reason: string;
  retryable: readonly JobStatus[];
  actor: Actor;
  /**
   * Writes this audit entry in the same transaction (a retry of one job; a
   * replay audits itself as a whole).
   */
  auditAs?: AuditAction;
  /**
   * Only if the job is still at this attempt (the one a parked message is of);
   * else a StaleAttemptError.
   */
  fromAttempt?: number;
  /** A queued or processing job the sweeper flagged stuck may run again too. */
  alsoStuck?: boolean;
}

/**
 * Throws unless the job, as it is now, may start its next attempt as `run`
 * asks.
 */
function checkNextAttempt(
  id: string,
  job: AttemptState,
  run: NextAttempt,
): void {
  if (run.fromAttempt !== undefined && run.fromAttempt !== job.attempt)
    throw new StaleAttemptError(id, run.fromAttempt, job.attempt);
  const stuck =
    job.stuck_reason !== null &&
    (job.status === 'queued' || job.status === 'processing');
  if (!run.retryable.includes(job.status) && !(run.alsoStuck && stuck))
    throw new JobNotRetryableError(id, job.status);
  if (job.input_expired_at !== null)
    throw new InputExpiredError(id, job.status, job.input_expired_at);
}

/** What decides whether a job may start its next attempt. */
interface AttemptState {
  status: JobStatus;
  attempt: number;
  stuck_reason: string | null;
  input_expired_at: Date | null;
}

const ATTEMPT_STATE_COLUMNS = 'status, attempt, stuck_reason, input_expired_at';

/**
 * Locks the job's row for the transaction and reads where it stands;
 * undefined when there is no such job, or `ownedBy` (when given) did not
 * submit it.
 */
async function lockJob(
  client: PoolClient,
  id: string,
  ownedBy?: string,
): Promise<{ status: JobStatus; attempt: number } | undefined> {
  const { rows } = await client.query<{ status: JobStatus; attempt: number }>(
    'SELECT status, attempt FROM jobs WHERE id = $1 AND ($2::uuid IS NULL OR api_key_id = $2) FOR UPDATE',
    [id, ownedBy ?? null],
  );
  return rows[0];
}

/**
 * The `retried` event of a job's new attempt, and its audit entry when the run
 * is audited.
 */
async function recordRetried(
  client: PoolClient,
  id: string,
  attempt: number,
  previousStatus: JobStatus,
  { reason, actor, auditAs }: NextAttempt,
): Promise<void> {
  await client.query(
    `INSERT INTO job_events (event_id, job_id, type, attempt, at, detail) VALUES ($1, $2, 'retried', $3, now(), $4)`,
    [
      operatorEventId(id, attempt, 'retried'),
      id,
      attempt,
      JSON.stringify({
        reason,
        previousStatus,
        apiKeyId: actor.apiKeyId,
        requestId: actor.requestId,
      }),
    ],
  );
  if (auditAs)
    await recordAudit(client, {
      actor,
      action: auditAs,
      target: id,
      detail: { attempt, previousStatus },
    });
}

/** The jobs a batch of submissions records, their first events and usage. */
const INSERT_QUEUED_JOBS = preparedStatement(
  'insert-queued-jobs',
  `WITH new_jobs AS (
         INSERT INTO jobs (id, status, source, operations, output_options, variants, created_at, updated_at, idempotency_key, request_hash, api_key_id, input_bytes, trace_id)
         SELECT id, 'queued', source, operations, output_options, variants, created_at, created_at, idempotency_key, request_hash, api_key_id, input_bytes, trace_id
         FROM unnest($1::uuid[], $2::jsonb[], $3::jsonb[], $4::jsonb[], $5::jsonb[], $6::timestamptz[], $7::text[], $8::text[], $9::uuid[], $10::bigint[], $12::text[])
           AS t(id, source, operations, output_options, variants, created_at, idempotency_key, request_hash, api_key_id, input_bytes, trace_id)
         ON CONFLICT (api_key_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
         RETURNING id, created_at, api_key_id, input_bytes),
       queued AS (
         INSERT INTO job_events (event_id, job_id, type, attempt, at)
         SELECT e.event_id, n.id, 'queued', 1, n.created_at
         FROM new_jobs n JOIN unnest($1::uuid[], $11::text[]) AS e(id, event_id) ON e.id = n.id),
       counted AS (
         ${COUNT_USAGE}
         SELECT api_key_id, COALESCE(sum(input_bytes), 0), ${UTC_TODAY}, count(*) FROM new_jobs
         GROUP BY api_key_id ORDER BY api_key_id
         ${ADD_USAGE})
       SELECT id FROM new_jobs`,
);

const MARK_PUBLISHED = preparedStatement(
  'mark-published',
  'UPDATE jobs SET published_at = now() WHERE id = ANY($1::uuid[]) AND published_at IS NULL',
);

/** The producer's access to jobs: record a submission, read jobs back. */
export class JobsRepository {
  private readonly inserts: Batcher<NewJob, boolean>;
  private readonly publishedMarks: Batcher<string, void>;

  constructor(
    private readonly pool: Pool,
    maxBatch = 500,
  ) {
    this.inserts = new Batcher((jobs) => this.insertBatch(jobs), maxBatch);
    this.publishedMarks = new Batcher<string, void>(async (ids) => {
      await this.pool.query(MARK_PUBLISHED([ids]));
      return ids.map(() => undefined);
    }, maxBatch);
  }

  /**
   * Records a job as queued, with the first event of its timeline; concurrent
   * calls share a statement. Returns false when its idempotency key is already
   * taken (nothing is recorded).
   */
  insertQueued(job: NewJob): Promise<boolean> {
    return this.inserts.add(job);
  }

  /**
   * One statement records the jobs, their first events, and what they add to
   * their keys' usage (a job for the day, an upload's bytes): a job and its
   * accounting commit together.
   */
  private async insertBatch(jobs: NewJob[]): Promise<boolean[]> {
    const { rows } = await this.pool.query<{ id: string }>(
      INSERT_QUEUED_JOBS([
        jobs.map((job) => job.id),
        jobs.map((job) => JSON.stringify(job.source)),
        jobs.map((job) => JSON.stringify(job.operations)),
        jobs.map((job) => JSON.stringify(job.output)),
        jobs.map((job) => (job.variants ? JSON.stringify(job.variants) : null)),
        jobs.map((job) => job.createdAt.toISOString()),
        jobs.map((job) => job.idempotency?.key ?? null),
        jobs.map((job) => job.idempotency?.requestHash ?? null),
        jobs.map((job) => job.apiKeyId),
        jobs.map((job) => job.inputBytes ?? null),
        jobs.map((job) => queuedEventId(job.id)),
        jobs.map((job) => job.traceId ?? null),
      ]),
    );
    const inserted = new Set(rows.map((row) => row.id));
    return jobs.map((job) => inserted.has(job.id));
  }

  /**
   * The job `apiKeyId` submitted under an Idempotency-Key (each API key has
   * keys of its own).
   */
  async findByIdempotencyKey(
    apiKeyId: string,
    key: string,
  ): Promise<IdempotentMatch | null> {
    const { rows } = await this.pool.query<{
      id: string;
      request_hash: string;
      confirmed: boolean;
    }>(
      'SELECT id, request_hash, published_at IS NOT NULL AS confirmed FROM jobs WHERE api_key_id = $1 AND idempotency_key = $2',
      [apiKeyId, key],
    );
    return rows.length > 0
      ? {
          id: rows[0].id,
          requestHash: rows[0].request_hash,
          confirmed: rows[0].confirmed,
        }
      : null;
  }

  /**
   * Records that the broker confirmed a job's first message; concurrent calls
   * share a statement.
   */
  markPublished(id: string): Promise<void> {
    return this.publishedMarks.add(id);
  }

  /** The request a job was recorded with, to publish it again. */
  async findRecorded(id: string): Promise<RecordedJob | null> {
    const { rows } = await this.pool.query<RecordedRow>(
      `SELECT ${RECORDED_COLUMNS} FROM jobs WHERE id = $1`,
      [id],
    );
    return rows.length > 0 ? toRecordedJob(id, rows[0]) : null;
  }

  /**
   * Removes a job that was never accepted (its message could not be published),
   * and what it added to its key's usage.
   */
  async delete(id: string): Promise<void> {
    await this.pool.query(
      `WITH removed AS (DELETE FROM jobs WHERE id = $1 RETURNING api_key_id, input_bytes, created_at)
       UPDATE api_key_quota_usage u SET
         stored_bytes = GREATEST(0, u.stored_bytes - COALESCE(r.input_bytes, 0)),
         jobs_on_day = CASE WHEN u.day = (r.created_at AT TIME ZONE 'UTC')::date THEN GREATEST(0, u.jobs_on_day - 1) ELSE u.jobs_on_day END
       FROM removed r WHERE u.api_key_id = r.api_key_id`,
      [id],
    );
  }

  /**
   * The job's timeline, oldest first (events with the same time in the order
   * they were recorded).
   */
  async timeline(id: string): Promise<JobEventView[]> {
    const { rows } = await this.pool.query<
      Omit<JobEventView, 'workerId' | 'at'> & {
        worker_id: string | null;
        at: Date;
      }
    >(
      'SELECT type, attempt, delivery, worker_id, at, detail FROM job_events WHERE job_id = $1 ORDER BY at, recorded_at',
      [id],
    );
    return rows.map((row) => ({
      type: row.type,
      attempt: row.attempt,
      delivery: row.delivery,
      workerId: row.worker_id,
      at: row.at.toISOString(),
      detail: row.detail,
    }));
  }

  /** The job, if it exists and `ownedBy` (when given) submitted it. */
  async findById(id: string, ownedBy?: string): Promise<StoredJob | null> {
    const { rows } = await this.pool.query<JobRow>(
      `SELECT ${JOB_COLUMNS} FROM jobs WHERE id = $1 AND ($2::uuid IS NULL OR api_key_id = $2)`,
      [id, ownedBy ?? null],
    );
    return rows.length > 0 ? toStoredJob(rows[0]) : null;
  }

  /**
   * A page of jobs, newest first (by creation time, then id), each filter
   * narrowing it; `after` starts the page past a job of the previous one.
   * `next` is where the following page starts, absent on the last page.
   */
  async list(query: JobListQuery): Promise<JobPage> {
    const { where, params } = listConditions(query);
    params.push(query.limit + 1);
    const { rows } = await this.pool.query<JobRow & { position_at: string }>(
      `SELECT ${JOB_COLUMNS}, ${POSITION_AT} AS position_at FROM jobs
       ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY created_at DESC, id DESC LIMIT $${params.length}`,
      params,
    );
    const page = rows.slice(0, query.limit);
    const last = page.at(-1);
    return {
      jobs: page.map(toStoredJob),
      next:
        rows.length > query.limit && last
          ? { createdAt: last.position_at, id: last.id }
          : undefined,
    };
  }

  /**
   * Failed jobs, oldest first: those that failed with `code`, or (without it)
   * every failed job but the cancelled ones, whose submitters chose to stop
   * them.
   */
  async failedIds(filter: { code?: string; limit: number }): Promise<string[]> {
    const { rows } = await this.pool.query<{ id: string }>(
      `SELECT id FROM jobs
       WHERE status = 'failed' AND CASE WHEN $1::text IS NULL THEN error_code IS DISTINCT FROM $3 ELSE error_code = $1 END
       ORDER BY created_at, id LIMIT $2`,
      [filter.code ?? null, filter.limit, JobErrorCode.cancelled],
    );
    return rows.map((row) => row.id);
  }

  /**
   * Starts the next run of a job: back to queued with a new attempt number and
   * a `retried` event, committed only if `publish` (given the job as recorded,
   * with its new attempt) succeeds, so that a job is never shown queued without
   * a message behind it.
   *
   * The attempt number is reserved (jobs.attempt_seq) and committed before the
   * message is published: should the start be rolled back after the broker took
   * the message anyway (a confirm after the timeout, a failed COMMIT), that
   * message's events name an attempt the job never reached and change nothing,
   * and the next start gets a number of its own. Null when the job does not
   * exist.
   */
  async startNextAttempt(
    id: string,
    run: NextAttempt,
    publish: (job: RecordedJob & { attempt: number }) => Promise<void>,
  ): Promise<{ attempt: number } | null> {
    const attempt = await this.reserveAttempt(id, run);
    if (attempt === null) return null;
    return inTransaction(this.pool, async (client) => {
      const { rows } = await client.query<RecordedRow & AttemptState>(
        `SELECT ${ATTEMPT_STATE_COLUMNS}, ${RECORDED_COLUMNS} FROM jobs WHERE id = $1 FOR UPDATE`,
        [id],
      );
      if (rows.length === 0) return null;
      const row = rows[0];
      // Checked again under the lock: another start may have taken the job
      // meanwhile.
      checkNextAttempt(id, row, run);
      await client.query(
        `UPDATE jobs SET status = 'queued', attempt = $2, error_code = NULL, error_message = NULL, worker_id = NULL,
           started_at = NULL, finished_at = NULL, stuck_reason = NULL, stuck_since = NULL, updated_at = now() WHERE id = $1`,
        [id, attempt],
      );
      await recordRetried(client, id, attempt, row.status, run);
      await failpoint('retry.before-publish');
      await publish({ ...toRecordedJob(id, row), attempt });
      await failpoint('retry.after-publish');
      await client.query(
        'UPDATE jobs SET published_at = clock_timestamp() WHERE id = $1',
        [id],
      );
      return { attempt };
    });
  }

  /**
   * Reserves the next attempt's number, once the job may start it; null when
   * the job does not exist. Refused before a number is reserved, so that a
   * refusal does not use one up.
   */
  private async reserveAttempt(
    id: string,
    run: NextAttempt,
  ): Promise<number | null> {
    const { rows: current } = await this.pool.query<AttemptState>(
      `SELECT ${ATTEMPT_STATE_COLUMNS} FROM jobs WHERE id = $1`,
      [id],
    );
    if (current.length === 0) return null;
    checkNextAttempt(id, current[0], run);
    const { rows: reserved } = await this.pool.query<{ attempt_seq: number }>(
      'UPDATE jobs SET attempt_seq = GREATEST(attempt_seq, attempt) + 1 WHERE id = $1 RETURNING attempt_seq',
      [id],
    );
    return reserved.length === 0 ? null : reserved[0].attempt_seq;
  }

  /**
   * Cancels a job that has not finished: records its attempt's outcome,
   * `failed` with CANCELLED, under the id a worker's outcome for that attempt
   * would have. A worker still busy with it finishes, but its outcome is then a
   * repeat of a recorded one and changes nothing. Null when the job does not
   * exist or `ownedBy` (when given) did not submit it.
   */
  async cancel(
    id: string,
    ownedBy: string | undefined,
    actor: Actor,
  ): Promise<{ attempt: number } | null> {
    return inTransaction(this.pool, async (client) => {
      const job = await lockJob(client, id, ownedBy);
      if (job === undefined) return null;
      const { status, attempt } = job;
      if (status === 'succeeded' || status === 'failed')
        throw new JobNotCancellableError(id, status);
      const error = {
        code: JobErrorCode.cancelled,
        message: 'Cancelled before it finished',
      };
      await client.query(
        `INSERT INTO job_events (event_id, job_id, type, attempt, at, detail) VALUES ($1, $2, 'failed', $3, now(), $4)
         ON CONFLICT (event_id) DO NOTHING`,
        [
          jobEventId(id, attempt, 'failed', 0),
          id,
          attempt,
          JSON.stringify({
            ...error,
            apiKeyId: actor.apiKeyId,
            requestId: actor.requestId,
          }),
        ],
      );
      await client.query(
        `UPDATE jobs SET status = 'failed', error_code = $2, error_message = $3, finished_at = now(), stuck_reason = NULL, stuck_since = NULL, updated_at = now() WHERE id = $1`,
        [id, error.code, error.message],
      );
      await recordAudit(client, {
        actor,
        action: 'job.cancelled',
        target: id,
        detail: { attempt, previousStatus: status },
      });
      return { attempt };
    });
  }

  /**
   * Records that the message of a job's attempt `attempt` was purged from the
   * dead-letter queue: a `purged` event, and a job not yet finished fails with
   * that reason. Only while the job is at that attempt (else a
   * StaleAttemptError, and nothing changes): a purged message of an earlier run
   * must not end the run under way. False when the job does not exist.
   */
  async recordPurged(
    id: string,
    attempt: number,
    reason: string,
    actor: Actor,
  ): Promise<boolean> {
    return inTransaction(this.pool, async (client) => {
      const job = await lockJob(client, id);
      if (job === undefined) return false;
      if (job.attempt !== attempt)
        throw new StaleAttemptError(id, attempt, job.attempt);
      await client.query(
        `INSERT INTO job_events (event_id, job_id, type, attempt, at, detail)
         VALUES ($1::text || extract(epoch FROM clock_timestamp())::text, $2, 'purged', $3, now(), $4::jsonb)`,
        [
          operatorEventId(id, attempt, 'purged'),
          id,
          attempt,
          JSON.stringify({
            reason,
            apiKeyId: actor.apiKeyId,
            requestId: actor.requestId,
          }),
        ],
      );
      await client.query(
        `UPDATE jobs SET status = 'failed', error_code = $2, error_message = $3, finished_at = now(), updated_at = now()
         WHERE id = $1 AND status NOT IN ('succeeded', 'failed')`,
        [
          id,
          JobErrorCode.purged,
          `Its message was purged from the dead-letter queue (${reason})`,
        ],
      );
      return true;
    });
  }

  /**
   * Jobs by status, stuck ones (flagged, or processing since before
   * `stuckBefore`), and outcomes since `since`.
   */
  async counts(stuckBefore: Date, since: Date): Promise<JobCounts> {
    type CountsRow = Record<
      JobStatus | 'stuck' | 'recent_succeeded' | 'recent_failed',
      number
    >;
    const { rows } = await this.pool.query<CountsRow>(
      `SELECT
         count(*) FILTER (WHERE status = 'queued')::int AS queued,
         count(*) FILTER (WHERE status = 'processing')::int AS processing,
         count(*) FILTER (WHERE status = 'succeeded')::int AS succeeded,
         count(*) FILTER (WHERE status = 'failed')::int AS failed,
         count(*) FILTER (WHERE ${stuckCondition('$1')})::int AS stuck,
         count(*) FILTER (WHERE status = 'succeeded' AND finished_at >= $2)::int AS recent_succeeded,
         count(*) FILTER (WHERE status = 'failed' AND finished_at >= $2)::int AS recent_failed
       FROM jobs`,
      [stuckBefore.toISOString(), since.toISOString()],
    );
    const row = rows[0];
    return {
      byStatus: {
        queued: row.queued,
        processing: row.processing,
        succeeded: row.succeeded,
        failed: row.failed,
      },
      stuck: row.stuck,
      finishedSince: {
        succeeded: row.recent_succeeded,
        failed: row.recent_failed,
      },
    };
  }
}
