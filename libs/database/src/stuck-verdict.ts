import { JobStatus } from '@pipeline/contracts';

/**
 * What the sweeper read of the whole system in one pass, to tell whether
 * anything can still move a job.
 */
export interface SweepEvidence {
  /**
   * Messages waiting in the jobs queue, its delay queues and the events queue.
   */
  waitingMessages: number;
  /**
   * Live workers (recent heartbeat, not stopped) that said they were running a
   * job.
   */
  busyWorkers: number;
  /** Job messages parked in the dead-letter queue. */
  parkedJobMessages: number;
}

/** An unfinished job, as the sweeper sees it. */
export interface UnfinishedJob {
  id: string;
  status: Extract<JobStatus, 'queued' | 'processing'>;
  workerId: string | null;
  /**
   * Whether the worker that last had it stopped sending heartbeats (or
   * stopped).
   */
  workerGone: boolean;
}

/**
 * A job's message lives in a queue (waiting), in a worker's hands (unacked), or
 * as an outcome on its way to the writer. When no queue holds a message and no
 * live worker is busy, nothing will move an unfinished job any more: it is
 * stuck.
 */
export function nothingCanMove(evidence: SweepEvidence): boolean {
  return evidence.waitingMessages === 0 && evidence.busyWorkers === 0;
}

/** Why the job is stuck, in words an operator can act on. */
export function stuckReason(
  job: UnfinishedJob,
  evidence: SweepEvidence,
): string {
  const holder =
    job.status === 'processing'
      ? `it was processing on worker ${job.workerId ?? '(unknown)'}, which ${job.workerGone ? 'is gone' : 'is idle'}`
      : 'it is queued';
  const parked =
    evidence.parkedJobMessages > 0
      ? `; ${evidence.parkedJobMessages} job message(s) are parked in the dead-letter queue, perhaps its own`
      : '';
  return `${holder}, but no job message waits in any queue and no worker is busy${parked}. Retry or cancel it.`;
}
