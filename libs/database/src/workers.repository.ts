import { WorkerHeartbeatMessage } from '@pipeline/contracts';
import { Pool } from 'pg';
import { columnArrays } from './column-arrays';

/** A worker as its last heartbeat left it. */
export interface WorkerRecord {
  id: string;
  host: string;
  pid: number;
  startedAt: string;
  lastSeenAt: string;
  jobsSucceeded: number;
  jobsFailed: number;
  inFlight: number;
  /**
   * When it said it was stopping; null while running (or if it died without
   * saying).
   */
  stoppedAt: string | null;
}

interface WorkerRow {
  id: string;
  host: string;
  pid: number;
  started_at: Date;
  last_seen_at: Date;
  /** bigint: node-postgres reads it as a string. */
  jobs_succeeded: string;
  jobs_failed: string;
  in_flight: number;
  stopped_at: Date | null;
}

/**
 * The `workers` table: written from heartbeats by the results writer, read for
 * statistics.
 */
export class WorkersRepository {
  constructor(private readonly pool: Pool) {}

  /**
   * Records heartbeats; an older one than what is stored (a redelivery) changes
   * nothing.
   */
  async recordHeartbeats(batch: WorkerHeartbeatMessage[]): Promise<void> {
    // One row per worker per statement: the latest of its heartbeats.
    const latest = new Map<string, WorkerHeartbeatMessage>();
    for (const beat of batch)
      if (!latest.has(beat.workerId) || latest.get(beat.workerId)!.at < beat.at)
        latest.set(beat.workerId, beat);
    const beats = [...latest.values()];
    if (beats.length === 0) return;
    await this.pool.query(
      `INSERT INTO workers AS w (id, host, pid, started_at, last_seen_at, jobs_succeeded, jobs_failed, in_flight, stopped_at)
       SELECT id, host, pid, started_at, at, succeeded, failed, in_flight, CASE WHEN stopping THEN at END
       FROM unnest($1::text[], $2::text[], $3::int[], $4::timestamptz[], $5::timestamptz[], $6::bigint[], $7::bigint[], $8::int[], $9::boolean[])
         AS b(id, host, pid, started_at, at, succeeded, failed, in_flight, stopping)
       ON CONFLICT (id) DO UPDATE SET
         host = excluded.host, pid = excluded.pid, started_at = excluded.started_at, last_seen_at = excluded.last_seen_at,
         jobs_succeeded = excluded.jobs_succeeded, jobs_failed = excluded.jobs_failed, in_flight = excluded.in_flight,
         stopped_at = excluded.stopped_at
       WHERE w.last_seen_at <= excluded.last_seen_at`,
      columnArrays(beats, [
        'workerId',
        'host',
        'pid',
        'startedAt',
        'at',
        'jobsSucceeded',
        'jobsFailed',
        'inFlight',
        'stopping',
      ]),
    );
  }

  /** Workers seen since `since`, most recently seen first. */
  async seenSince(since: Date): Promise<WorkerRecord[]> {
    const { rows } = await this.pool.query<WorkerRow>(
      `SELECT id, host, pid, started_at, last_seen_at, jobs_succeeded, jobs_failed, in_flight, stopped_at
       FROM workers WHERE last_seen_at >= $1 ORDER BY last_seen_at DESC, id`,
      [since.toISOString()],
    );
    return rows.map((row) => ({
      id: row.id,
      host: row.host,
      pid: row.pid,
      startedAt: row.started_at.toISOString(),
      lastSeenAt: row.last_seen_at.toISOString(),
      jobsSucceeded: Number(row.jobs_succeeded),
      jobsFailed: Number(row.jobs_failed),
      inFlight: row.in_flight,
      stoppedAt: row.stopped_at?.toISOString() ?? null,
    }));
  }
}
