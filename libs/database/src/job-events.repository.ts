import { JobEventMessage } from '@pipeline/contracts';
import { Pool } from 'pg';
import { foldJobEvents, withImpliedStarts } from './job-patch';

export interface RecordOutcome {
  /** Events that were new and changed the timeline. */
  recorded: number;
  /** Events seen before (redeliveries): nothing changed. */
  duplicates: number;
  /** Events for jobs that do not exist: nothing to attach them to. */
  orphans: string[];
}

/** The results writer's access: records lifecycle events and folds them into the job rows. */
export class JobEventsRepository {
  constructor(private readonly pool: Pool) {}

  /**
   * Records a batch of events in one transaction. Idempotent: an event id already stored
   * is skipped, and only new events move a job's state.
   */
  async record(batch: JobEventMessage[]): Promise<RecordOutcome> {
    // The same event twice in one batch (a redelivery racing the original) is one event.
    const events = [...new Map(withImpliedStarts(batch).map((event) => [event.eventId, event])).values()];
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const { rows: inserted } = await client.query<{ event_id: string }>(
        `INSERT INTO job_events (event_id, job_id, type, attempt, delivery, worker_id, at, detail)
         SELECT e.event_id, e.job_id, e.type, e.attempt, e.delivery, e.worker_id, e.at, e.detail
         FROM unnest($1::text[], $2::uuid[], $3::text[], $4::int[], $5::int[], $6::text[], $7::timestamptz[], $8::jsonb[])
           AS e(event_id, job_id, type, attempt, delivery, worker_id, at, detail)
         WHERE EXISTS (SELECT 1 FROM jobs j WHERE j.id = e.job_id)
         ON CONFLICT (event_id) DO NOTHING
         RETURNING event_id`,
        [
          events.map((event) => event.eventId),
          events.map((event) => event.jobId),
          events.map((event) => event.type),
          events.map((event) => event.attempt),
          events.map((event) => event.delivery),
          events.map((event) => event.workerId),
          events.map((event) => event.at),
          events.map((event) => (event.output || event.error ? JSON.stringify(event.output ?? event.error) : null)),
        ],
      );
      const newIds = new Set(inserted.map((row) => row.event_id));
      const fresh = events.filter((event) => newIds.has(event.eventId));
      const patches = foldJobEvents(fresh);
      if (patches.length > 0) {
        await client.query(
          `UPDATE jobs j SET
             status = p.status,
             attempts = j.attempts + p.started_count,
             started_at = COALESCE(p.started_at, j.started_at),
             finished_at = p.finished_at,
             worker_id = COALESCE(p.worker_id, j.worker_id),
             output_format = p.output_format, output_width = p.output_width, output_height = p.output_height,
             output_bytes = p.output_bytes, output_key = p.output_key,
             error_code = p.error_code, error_message = p.error_message,
             updated_at = now()
           FROM unnest($1::uuid[], $2::text[], $3::int[], $4::timestamptz[], $5::timestamptz[], $6::text[],
                       $7::text[], $8::int[], $9::int[], $10::bigint[], $11::text[], $12::text[], $13::text[])
             AS p(job_id, status, started_count, started_at, finished_at, worker_id,
                  output_format, output_width, output_height, output_bytes, output_key, error_code, error_message)
           WHERE j.id = p.job_id AND j.status NOT IN ('succeeded', 'failed')`,
          [
            patches.map((p) => p.jobId),
            patches.map((p) => p.status),
            patches.map((p) => p.startedCount),
            patches.map((p) => p.startedAt),
            patches.map((p) => p.finishedAt),
            patches.map((p) => p.workerId),
            patches.map((p) => p.output?.format ?? null),
            patches.map((p) => p.output?.width ?? null),
            patches.map((p) => p.output?.height ?? null),
            patches.map((p) => p.output?.sizeBytes ?? null),
            patches.map((p) => p.output?.key ?? null),
            patches.map((p) => p.error?.code ?? null),
            patches.map((p) => p.error?.message ?? null),
          ],
        );
      }
      await client.query('COMMIT');
      const known = await this.knownEventIds(events, newIds);
      return {
        recorded: fresh.length,
        duplicates: known.length,
        orphans: events.filter((event) => !newIds.has(event.eventId) && !known.includes(event.eventId)).map((event) => event.eventId),
      };
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  private async knownEventIds(events: JobEventMessage[], newIds: Set<string>): Promise<string[]> {
    const rest = events.filter((event) => !newIds.has(event.eventId)).map((event) => event.eventId);
    if (rest.length === 0) return [];
    const { rows } = await this.pool.query<{ event_id: string }>('SELECT event_id FROM job_events WHERE event_id = ANY($1::text[])', [rest]);
    return rows.map((row) => row.event_id);
  }
}
