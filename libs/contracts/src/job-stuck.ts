import { JobView } from './jobs';

/**
 * A job is stuck when the sweeper found that nothing can move it
 * (`stuckReason`), or when it has been processing for longer than
 * `stuckAfterMs`: its worker most likely vanished.
 */
export function isStuck(
  job: Pick<JobView, 'status' | 'startedAt' | 'stuckReason'>,
  stuckAfterMs: number,
  now = Date.now(),
): boolean {
  if (job.stuckReason !== null) return true;
  return (
    job.status === 'processing' &&
    job.startedAt !== null &&
    now - Date.parse(job.startedAt) > stuckAfterMs
  );
}
