import {
  JobError,
  JobEventMessage,
  jobEventId,
  JobStatus,
  StoredOutput,
} from '@pipeline/contracts';

/** The change a set of new events makes to one job row. */
export interface JobPatch {
  jobId: string;
  /**
   * The run the events belong to; the row takes them only while it is on that
   * run.
   */
  attempt: number;
  status: JobStatus;
  /** Deliveries started among the new events. */
  startedCount: number;
  startedAt: string | null;
  finishedAt: string | null;
  workerId: string | null;
  outputs: StoredOutput[];
  error: JobError | null;
}

/**
 * Folds newly recorded events into one patch per job, in the order they
 * happened. An outcome wins over a start, whatever order they arrive in; the
 * SQL that applies a patch leaves finished jobs alone, so a late or repeated
 * event cannot undo an outcome.
 */
export function foldJobEvents(events: JobEventMessage[]): JobPatch[] {
  const patches = new Map<string, JobPatch>();
  const ordered = [...events].sort(
    (a, b) => Date.parse(a.at) - Date.parse(b.at),
  );
  for (const event of ordered) {
    const key = `${event.jobId}/${event.attempt}`;
    const patch = patches.get(key) ?? {
      jobId: event.jobId,
      attempt: event.attempt,
      status: 'processing',
      startedCount: 0,
      startedAt: null,
      finishedAt: null,
      workerId: null,
      outputs: [],
      error: null,
    };
    if (event.type === 'started') {
      patch.startedCount += 1;
      if (patch.finishedAt === null) {
        patch.status = 'processing';
        patch.startedAt = event.at;
        patch.workerId = event.workerId;
      }
    } else if (event.type === 'retrying') {
      // Waiting in a delay queue for its next try; the last error shows why.
      if (patch.finishedAt === null) {
        patch.status = 'queued';
        patch.error = event.error ?? null;
      }
    } else if (patch.finishedAt === null) {
      patch.status = event.type;
      patch.finishedAt = event.at;
      patch.workerId = event.workerId;
      patch.outputs = event.type === 'succeeded' ? (event.outputs ?? []) : [];
      patch.error = event.type === 'failed' ? (event.error ?? null) : null;
    }
    patches.set(key, patch);
  }
  return [...patches.values()];
}

/**
 * The events a batch stands for: an outcome that carries `startedAt` also
 * stands for the `started` event of its delivery, with the id the worker would
 * have given it, so it is recorded once whether or not the worker also
 * announced it.
 */
export function withImpliedStarts(
  events: JobEventMessage[],
): JobEventMessage[] {
  return events.flatMap((event) => {
    if (event.type === 'started' || !event.startedAt) return [event];
    const started: JobEventMessage = {
      eventId: jobEventId(
        event.jobId,
        event.attempt,
        'started',
        event.delivery,
      ),
      jobId: event.jobId,
      type: 'started',
      attempt: event.attempt,
      delivery: event.delivery,
      workerId: event.workerId,
      at: event.startedAt,
    };
    return [started, event];
  });
}
