import { JobEventMessage } from '@pipeline/contracts';
import { Pool } from 'pg';
import { inTransaction } from './transaction';
import { foldJobEvents, JobPatch, withImpliedStarts } from './job-patch';
import { preparedStatement } from './prepared-statement';
import { ADD_USAGE, COUNT_USAGE, UTC_TODAY } from './quota-usage';
import { columnArrays } from './column-arrays';

export interface RecordOutcome {
  /** Events that were new and changed the timeline. */
  recorded: number;
  /** Events seen before (redeliveries): nothing changed. */
  duplicates: number;
  /** Events for jobs that do not exist: nothing to attach them to. */
  orphans: string[];
  /** The attempts that ended, among the events recorded: their outcomes. */
  finished: Record<'succeeded' | 'failed', number>;
}

function finishedAmong(events: JobEventMessage[]): RecordOutcome['finished'] {
  const finished = { succeeded: 0, failed: 0 };
  for (const { type } of events)
    if (type === 'succeeded' || type === 'failed') finished[type]++;
  return finished;
}

/**
 * A `retrying` patch (status queued) whose try started before the start already
 * recorded: it arrived after the next try began, and must not set the job back
 * to queued.
 */
const STALE_RETRY = `(p.status = 'queued' AND j.started_at > p.started_at)`;

/** The events of a batch as the statements' arrays: $1 to $8. */
function eventParameters(events: JobEventMessage[]): unknown[] {
  return [
    ...columnArrays(events, [
      'eventId',
      'jobId',
      'type',
      'attempt',
      'delivery',
      'workerId',
      'at',
    ]),
    events.map((event) =>
      event.outputs || event.error
        ? JSON.stringify(
            event.outputs ? { outputs: event.outputs } : event.error,
          )
        : null,
    ),
  ];
}

/**
 * The batch's events, each with whether its job exists, and those of them new
 * to job_events.
 */
const INCOMING_AND_INSERTED = `
  incoming AS (
    SELECT e.*, EXISTS (SELECT 1 FROM jobs j WHERE j.id = e.job_id) AS job_exists
    FROM unnest($1::text[], $2::uuid[], $3::text[], $4::int[], $5::int[], $6::text[], $7::timestamptz[], $8::jsonb[])
      AS e(event_id, job_id, type, attempt, delivery, worker_id, at, detail)),
  inserted AS (
    INSERT INTO job_events (event_id, job_id, type, attempt, delivery, worker_id, at, detail)
    SELECT event_id, job_id, type, attempt, delivery, worker_id, at, detail FROM incoming WHERE job_exists
    ON CONFLICT (event_id) DO NOTHING
    RETURNING event_id)`;

/** A patch's fields the statements take as they are, each as its column. */
const PATCH_FIELDS = [
  'jobId',
  'status',
  'startedCount',
  'startedAt',
  'finishedAt',
  'workerId',
  'attempt',
] as const satisfies readonly (keyof JobPatch)[];
/**
 * An output's fields the statements take, each as `output` and the field
 * (`outputName`, …); `outputJobId` says whose output it is.
 */
const OUTPUT_FIELDS = [
  'jobId',
  'name',
  'position',
  'format',
  'width',
  'height',
  'sizeBytes',
  'key',
  'sha256',
] as const;
type OutputParameter = `output${Capitalize<(typeof OUTPUT_FIELDS)[number]>}`;

/**
 * The patch parameters, in the order the statements number them from their
 * first: each named for the column it fills.
 */
const PATCH_PARAMETERS = [
  ...PATCH_FIELDS,
  'errorCode',
  'errorMessage',
  ...OUTPUT_FIELDS.map(
    (field) =>
      `output${field[0].toUpperCase()}${field.slice(1)}` as OutputParameter,
  ),
] as const;
type PatchParameter = (typeof PATCH_PARAMETERS)[number];

/** The patches as the statements' arrays, in PATCH_PARAMETERS' order. */
function patchParameters(patches: JobPatch[]): unknown[] {
  const outputs = patches.flatMap((p) =>
    p.outputs.map((output, position) => ({
      jobId: p.jobId,
      position,
      ...output,
    })),
  );
  return [
    ...PATCH_FIELDS.map((field) => patches.map((p) => p[field])),
    patches.map((p) => p.error?.code ?? null),
    patches.map((p) => p.error?.message ?? null),
    ...OUTPUT_FIELDS.map((field) => outputs.map((o) => o[field] ?? null)),
  ];
}

/**
 * Applies the patches to the job rows, records the outputs of the jobs they
 * finish (only those: a late duplicate outcome adds none) and adds the outputs'
 * bytes to their key's stored bytes. `$` numbers the patch parameters from
 * `first`; `gate`, when given, is a CTE the update joins, so that it runs only
 * through it.
 */
function patchJobsCtes(first: number, gate?: string): string {
  const $ = (name: PatchParameter) =>
    `$${first + PATCH_PARAMETERS.indexOf(name)}`;
  return `
  patched AS (
    UPDATE jobs j SET
      status = CASE WHEN ${STALE_RETRY} THEN j.status ELSE p.status END,
      deliveries = j.deliveries + p.started_count,
      started_at = GREATEST(p.started_at, j.started_at),
      finished_at = p.finished_at,
      worker_id = CASE WHEN ${STALE_RETRY} THEN j.worker_id ELSE COALESCE(p.worker_id, j.worker_id) END,
      error_code = CASE WHEN ${STALE_RETRY} THEN j.error_code ELSE p.error_code END,
      error_message = CASE WHEN ${STALE_RETRY} THEN j.error_message ELSE p.error_message END,
      stuck_reason = NULL, stuck_since = NULL,
      updated_at = now()
    FROM unnest(${$('jobId')}::uuid[], ${$('status')}::text[], ${$('startedCount')}::int[], ${$('startedAt')}::timestamptz[], ${$('finishedAt')}::timestamptz[], ${$('workerId')}::text[], ${$('errorCode')}::text[], ${$('errorMessage')}::text[], ${$('attempt')}::int[])
      AS p(job_id, status, started_count, started_at, finished_at, worker_id, error_code, error_message, attempt)${gate ? `, ${gate}` : ''}
    WHERE j.id = p.job_id AND j.attempt = p.attempt AND j.status NOT IN ('succeeded', 'failed')
    RETURNING j.id, j.status, j.api_key_id),
  added AS (
    INSERT INTO job_outputs (job_id, name, position, format, width, height, size_bytes, storage_key, sha256)
    SELECT o.job_id, o.name, o.position, o.format, o.width, o.height, o.size_bytes, o.storage_key, o.sha256
    FROM unnest(${$('outputJobId')}::uuid[], ${$('outputName')}::text[], ${$('outputPosition')}::int[], ${$('outputFormat')}::text[], ${$('outputWidth')}::int[], ${$('outputHeight')}::int[], ${$('outputSizeBytes')}::bigint[], ${$('outputKey')}::text[], ${$('outputSha256')}::text[])
      AS o(job_id, name, position, format, width, height, size_bytes, storage_key, sha256)
    JOIN patched ON patched.id = o.job_id AND patched.status = 'succeeded'
    ON CONFLICT (job_id, name) DO NOTHING
    RETURNING job_id, size_bytes),
  usage AS (
    ${COUNT_USAGE}
    SELECT p.api_key_id, sum(a.size_bytes), ${UTC_TODAY}, 0 FROM added a JOIN patched p ON p.id = a.job_id
    WHERE p.api_key_id IS NOT NULL GROUP BY p.api_key_id ORDER BY p.api_key_id
    ${ADD_USAGE}
    RETURNING 1)`;
}

/**
 * The one-statement path met a batch it does not handle: an event seen before
 * (a redelivery), an event without a job, or a job row its patch did not match
 * as the statement's snapshot saw it (an event of an attempt moved past; or of
 * a run whose start commits only after its message is out, as a retry's does:
 * the event's insert waits for that commit, but one statement keeps the
 * snapshot from before it). The statement undoes itself and the transaction
 * below takes over.
 */
const NOT_THE_COMMON_BATCH = 'PN001';

/**
 * An expression that fails its statement with SQLSTATE `code` (migration 011's
 * pipeline_raise).
 */
const raise = (code: string, message: string) =>
  `pipeline_raise('${code}', '${message}')`;

/**
 * The batch with its implied starts, each event once: the same event twice in
 * one batch (a redelivery racing the original) is one event.
 */
function distinctEvents(batch: JobEventMessage[]): JobEventMessage[] {
  return [
    ...new Map(
      withImpliedStarts(batch).map((event) => [event.eventId, event]),
    ).values(),
  ];
}

/**
 * The common batch in one statement (see JobEventsRepository.record): its
 * events inserted and folded into their jobs' rows, or SQLSTATE
 * NOT_THE_COMMON_BATCH and nothing changed.
 */
const RECORD_COMMON_BATCH = preparedStatement(
  'record-common-batch',
  `WITH ${INCOMING_AND_INSERTED},
           all_new AS (
             SELECT CASE WHEN count(*) = $9 THEN true
                         ELSE ${raise(NOT_THE_COMMON_BATCH, 'not every event of the batch is new')} END AS checked
             FROM inserted),
           ${patchJobsCtes(11, 'all_new')},
           all_patched AS (
             SELECT CASE WHEN count(*) = $10 THEN true
                         ELSE ${raise(NOT_THE_COMMON_BATCH, 'not every job of the batch took its events')} END AS checked
             FROM patched)
         SELECT all_new.checked AND all_patched.checked FROM all_new, all_patched`,
);

/**
 * The results writer's access: records lifecycle events and folds them into the
 * job rows.
 */
export class JobEventsRepository {
  constructor(private readonly pool: Pool) {}

  /**
   * Records a batch of events atomically. Idempotent: an event id already
   * stored is skipped, and only new events move a job's state.
   *
   * The common batch is all new events of existing jobs, each job at the
   * attempt and state its events move on from: one statement records them and
   * folds them into the job rows, one round trip. Otherwise (see
   * NOT_THE_COMMON_BATCH) that statement fails as a whole, changing nothing,
   * and the batch is recorded again in a transaction that finds out which
   * events are new and folds only those, in a statement of its own that sees
   * whatever committed meanwhile.
   */
  async record(batch: JobEventMessage[]): Promise<RecordOutcome> {
    const events = distinctEvents(batch);
    if (await this.recordCommonBatch(events))
      return {
        recorded: events.length,
        duplicates: 0,
        orphans: [],
        finished: finishedAmong(events),
      };
    return this.recordSortingOutRepeats(events);
  }

  /**
   * Records the batch in one statement if it is the common batch; false,
   * having changed nothing, if it is not.
   */
  private async recordCommonBatch(events: JobEventMessage[]): Promise<boolean> {
    const patches = foldJobEvents(events);
    // A client of its own, released as healthy whatever the statement says:
    // the pool's own query() drops a connection, and the statements prepared
    // on it, whenever its statement fails, even by design as here. A broken
    // connection is dropped all the same.
    const client = await this.pool.connect();
    try {
      await client.query(
        RECORD_COMMON_BATCH([
          ...eventParameters(events),
          events.length,
          patches.length,
          ...patchParameters(patches),
        ]),
      );
      return true;
    } catch (error) {
      if ((error as { code?: string }).code !== NOT_THE_COMMON_BATCH)
        throw error;
      return false;
    } finally {
      client.release();
    }
  }

  /**
   * Records the events that are new, and folds only those into the job rows;
   * names those without a job.
   */
  private recordSortingOutRepeats(
    events: JobEventMessage[],
  ): Promise<RecordOutcome> {
    return inTransaction(this.pool, async (client) => {
      const { rows } = await client.query<{
        event_id: string;
        outcome: 'inserted' | 'orphan';
      }>(
        `WITH ${INCOMING_AND_INSERTED}
         SELECT event_id, 'inserted' AS outcome FROM inserted
         UNION ALL
         SELECT event_id, 'orphan' AS outcome FROM incoming WHERE NOT job_exists`,
        eventParameters(events),
      );
      const orphans = rows
        .filter((row) => row.outcome === 'orphan')
        .map((row) => row.event_id);
      const newIds = new Set(
        rows
          .filter((row) => row.outcome === 'inserted')
          .map((row) => row.event_id),
      );
      const fresh = events.filter((event) => newIds.has(event.eventId));
      const patches = foldJobEvents(fresh);
      if (patches.length > 0)
        await client.query(
          `WITH ${patchJobsCtes(1)} SELECT count(*) FROM patched`,
          patchParameters(patches),
        );
      return {
        recorded: fresh.length,
        duplicates: events.length - fresh.length - orphans.length,
        orphans,
        finished: finishedAmong(fresh),
      };
    });
  }
}
