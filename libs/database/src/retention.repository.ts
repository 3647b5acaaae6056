import { Pool } from 'pg';
import { takeOffStoredBytes } from './quota-usage';
import { inTransaction, whileHoldingAdvisoryLock } from './transaction';

/**
 * Any constant, the same in every results writer, and not the job sweeper's:
 * only the one holding it expires.
 */
export const EXPIRY_LOCK_KEY = 0x5eed_0e1d;

/**
 * Removes the stored objects named, giving each one's size (null: it was not
 * there).
 */
export type RemoveBlobs = (keys: string[]) => Promise<Array<number | null>>;

/** One batch of jobs whose inputs or outputs expired. */
export interface ExpiredBatch {
  /** Jobs marked expired. */
  jobs: number;
  /** Sizes of the objects removed, as RemoveBlobs gave them. */
  removed: Array<number | null>;
}

/** What one kind of stored object is, in the jobs table. */
interface ExpiringKind {
  /** Finished jobs that hold such objects, not yet expired. */
  holds: string;
  expiredColumn: 'input_expired_at' | 'outputs_expired_at';
  /**
   * The job's objects of this kind: storage key and the bytes counted for it in
   * its key's usage.
   */
  objects: string;
}

const OUTPUTS: ExpiringKind = {
  holds: `status = 'succeeded' AND outputs_expired_at IS NULL`,
  expiredColumn: 'outputs_expired_at',
  objects:
    'SELECT o.storage_key AS key, o.size_bytes AS bytes FROM job_outputs o WHERE o.job_id = j.id',
};

const INPUTS: ExpiringKind = {
  holds: `status IN ('succeeded', 'failed') AND input_expired_at IS NULL AND source->>'kind' = 'upload'`,
  expiredColumn: 'input_expired_at',
  objects: `SELECT j.source->>'key' AS key, COALESCE(j.input_bytes, 0) AS bytes`,
};

/**
 * The retention sweep's access to jobs: finished jobs whose uploaded input or
 * outputs are past their retention, marking them expired (and taking their
 * bytes off their key's usage), and removing old job rows. Only finished jobs
 * are ever touched: nothing accepted and unfinished loses its input.
 */
export class RetentionRepository {
  constructor(private readonly pool: Pool) {}

  /**
   * Runs `sweep` while holding the expiry lock; false without running it when
   * another writer holds it.
   */
  whileHoldingLock(sweep: () => Promise<void>): Promise<boolean> {
    return whileHoldingAdvisoryLock(this.pool, EXPIRY_LOCK_KEY, sweep);
  }

  /**
   * Outputs of up to `limit` jobs that succeeded before `finishedBefore`,
   * oldest first.
   */
  expireOutputs(
    finishedBefore: Date,
    limit: number,
    removeBlobs: RemoveBlobs,
  ): Promise<ExpiredBatch> {
    return this.expire(OUTPUTS, finishedBefore, limit, removeBlobs);
  }

  /**
   * Uploaded inputs of up to `limit` jobs that finished before
   * `finishedBefore`: those jobs cannot run again.
   */
  expireInputs(
    finishedBefore: Date,
    limit: number,
    removeBlobs: RemoveBlobs,
  ): Promise<ExpiredBatch> {
    return this.expire(INPUTS, finishedBefore, limit, removeBlobs);
  }

  /**
   * The rows stay locked while their objects are removed, so that a retry waits
   * and then finds the input expired. Objects are removed before the rows are
   * marked: a pass that dies in between leaves the rows for the next pass,
   * never objects that nothing points at.
   */
  private expire(
    kind: ExpiringKind,
    finishedBefore: Date,
    limit: number,
    removeBlobs: RemoveBlobs,
  ): Promise<ExpiredBatch> {
    return inTransaction(this.pool, async (client) => {
      const { rows } = await client.query<{
        id: string;
        api_key_id: string | null;
        keys: string[] | null;
        bytes: string;
      }>(
        `WITH picked AS (
           SELECT id FROM jobs WHERE ${kind.holds} AND finished_at < $1
           ORDER BY finished_at LIMIT $2 FOR UPDATE SKIP LOCKED)
         SELECT j.id, j.api_key_id, o.keys, o.bytes
         FROM picked p JOIN jobs j ON j.id = p.id
         CROSS JOIN LATERAL (SELECT array_agg(x.key) AS keys, COALESCE(sum(x.bytes), 0)::text AS bytes FROM (${kind.objects}) x) o`,
        [finishedBefore.toISOString(), limit],
      );
      if (rows.length === 0) return { jobs: 0, removed: [] };
      const removed = await removeBlobs(rows.flatMap((row) => row.keys ?? []));
      await client.query(
        `UPDATE jobs SET ${kind.expiredColumn} = now() WHERE id = ANY($1::uuid[])`,
        [rows.map((row) => row.id)],
      );
      const freed = new Map<string, number>();
      for (const row of rows)
        if (row.api_key_id !== null)
          freed.set(
            row.api_key_id,
            (freed.get(row.api_key_id) ?? 0) + Number(row.bytes),
          );
      await takeOffStoredBytes(client, freed);
      return { jobs: rows.length, removed };
    });
  }

  /**
   * Removes up to `limit` rows of jobs that finished before `finishedBefore`
   * and hold no stored object any more (with their timelines and outputs'
   * records); returns how many.
   */
  async deleteJobs(finishedBefore: Date, limit: number): Promise<number> {
    const { rowCount } = await this.pool.query(
      `WITH doomed AS (
         SELECT id FROM jobs
         WHERE status IN ('succeeded', 'failed') AND finished_at < $1
           AND (source->>'kind' IS DISTINCT FROM 'upload' OR input_expired_at IS NOT NULL)
           AND (outputs_expired_at IS NOT NULL OR NOT EXISTS (SELECT 1 FROM job_outputs o WHERE o.job_id = jobs.id))
         ORDER BY finished_at LIMIT $2 FOR UPDATE SKIP LOCKED)
       DELETE FROM jobs WHERE id IN (SELECT id FROM doomed)`,
      [finishedBefore.toISOString(), limit],
    );
    return rowCount ?? 0;
  }
}
