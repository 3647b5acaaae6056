import { Pool } from 'pg';
import {
  RECORDED_COLUMNS,
  RecordedJob,
  RecordedRow,
  toRecordedJob,
} from './recorded-job';
import { UnfinishedJob } from './stuck-verdict';
import { whileHoldingAdvisoryLock } from './transaction';

/**
 * Any constant, the same in every results writer: only the one holding it
 * sweeps.
 */
export const SWEEP_LOCK_KEY = 0x5eed_10b5;

/** A recorded job whose message no broker confirm was recorded for. */
export interface UnpublishedJob extends RecordedJob {
  attempt: number;
}

/**
 * An unfinished job with when it last changed (to the microsecond), so a flag
 * is set only if nothing changed since it was judged.
 */
export interface SweepCandidate extends UnfinishedJob {
  version: string;
}

/**
 * The sweeper's access to jobs: what nobody confirmed, what nothing moves, and
 * flagging it.
 */
export class JobSweepRepository {
  constructor(private readonly pool: Pool) {}

  /**
   * Runs `sweep` while holding the sweep lock, on a client of its own; resolves
   * false without running it when another writer holds the lock.
   */
  whileHoldingLock(sweep: () => Promise<void>): Promise<boolean> {
    return whileHoldingAdvisoryLock(this.pool, SWEEP_LOCK_KEY, sweep);
  }

  /**
   * Queued jobs recorded before `before` whose message was never marked
   * confirmed, oldest first.
   */
  async unpublished(before: Date, limit: number): Promise<UnpublishedJob[]> {
    const { rows } = await this.pool.query<
      RecordedRow & { id: string; attempt: number }
    >(
      `SELECT id, attempt, ${RECORDED_COLUMNS} FROM jobs
       WHERE status = 'queued' AND published_at IS NULL AND updated_at < $1
       ORDER BY created_at LIMIT $2`,
      [before.toISOString(), limit],
    );
    return rows.map((row) => ({
      ...toRecordedJob(row.id, row),
      attempt: row.attempt,
    }));
  }

  /**
   * Marks the attempt's message as confirmed; false if the job moved on
   * meanwhile.
   */
  async markPublished(id: string, attempt: number): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      'UPDATE jobs SET published_at = now() WHERE id = $1 AND attempt = $2 AND published_at IS NULL',
      [id, attempt],
    );
    return (rowCount ?? 0) > 0;
  }

  /** Live workers running at least one job, by their last heartbeat. */
  async busyWorkers(goneBefore: Date): Promise<number> {
    const { rows } = await this.pool.query<{ busy: number }>(
      'SELECT count(*)::int AS busy FROM workers WHERE last_seen_at >= $1 AND stopped_at IS NULL AND in_flight > 0',
      [goneBefore.toISOString()],
    );
    return rows[0].busy;
  }

  /**
   * Unfinished, unflagged jobs that have not changed since `before`, with
   * whether their worker is gone.
   */
  async quietUnfinished(
    before: Date,
    goneBefore: Date,
    limit: number,
  ): Promise<SweepCandidate[]> {
    const { rows } = await this.pool.query<{
      id: string;
      status: SweepCandidate['status'];
      worker_id: string | null;
      worker_gone: boolean;
      version: string;
    }>(
      `SELECT j.id, j.status, j.worker_id, j.updated_at::text AS version,
              (w.id IS NULL OR w.stopped_at IS NOT NULL OR w.last_seen_at < $2) AS worker_gone
       FROM jobs j LEFT JOIN workers w ON w.id = j.worker_id
       WHERE j.status IN ('queued', 'processing') AND j.stuck_reason IS NULL AND j.updated_at < $1
         AND (j.status = 'processing' OR j.published_at IS NOT NULL)
       ORDER BY j.updated_at LIMIT $3`,
      [before.toISOString(), goneBefore.toISOString(), limit],
    );
    return rows.map((row) => ({
      id: row.id,
      status: row.status,
      workerId: row.worker_id,
      workerGone: row.worker_gone,
      version: row.version,
    }));
  }

  /**
   * Flags the job stuck unless it changed since it was read; true if flagged.
   */
  async flagStuck(candidate: SweepCandidate, reason: string): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `UPDATE jobs SET stuck_reason = $3, stuck_since = now()
       WHERE id = $1 AND updated_at = $2::timestamptz AND status IN ('queued', 'processing') AND stuck_reason IS NULL`,
      [candidate.id, candidate.version, reason],
    );
    return (rowCount ?? 0) > 0;
  }
}
