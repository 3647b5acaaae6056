import { JobEventMessage, jobEventId } from '@pipeline/contracts';
import { foldJobEvents } from './job-patch';

const JOB_A = '11111111-1111-4111-8111-111111111111';
const JOB_B = '22222222-2222-4222-8222-222222222222';

const output = [
  {
    name: 'default',
    key: `outputs/${JOB_A}`,
    format: 'png' as const,
    width: 10,
    height: 20,
    sizeBytes: 300,
  },
];
const error = { code: 'INVALID_IMAGE', message: 'bad bytes' };

function started(
  jobId: string,
  at: string,
  delivery = 1,
  workerId = 'worker-1',
): JobEventMessage {
  return {
    eventId: jobEventId(jobId, 1, 'started', delivery),
    jobId,
    type: 'started',
    attempt: 1,
    delivery,
    workerId,
    at,
  };
}

function succeeded(
  jobId: string,
  at: string,
  workerId = 'worker-1',
  out = output,
): JobEventMessage {
  return {
    eventId: jobEventId(jobId, 1, 'succeeded', 1),
    jobId,
    type: 'succeeded',
    attempt: 1,
    delivery: 1,
    workerId,
    at,
    outputs: out,
  };
}

function failed(
  jobId: string,
  at: string,
  workerId = 'worker-1',
  err = error,
): JobEventMessage {
  return {
    eventId: jobEventId(jobId, 1, 'failed', 1),
    jobId,
    type: 'failed',
    attempt: 1,
    delivery: 1,
    workerId,
    at,
    error: err,
  };
}

const T1 = '2024-05-01T12:00:01.000Z';
const T2 = '2024-05-01T12:00:02.000Z';
const T3 = '2024-05-01T12:00:03.000Z';

describe('foldJobEvents', () => {
  it('gives no patches for no events', () => {
    expect(foldJobEvents([])).toEqual([]);
  });

  it('started alone: processing, one start, no outcome', () => {
    expect(foldJobEvents([started(JOB_A, T1)])).toEqual([
      {
        jobId: JOB_A,
        attempt: 1,
        status: 'processing',
        startedCount: 1,
        startedAt: T1,
        finishedAt: null,
        workerId: 'worker-1',
        outputs: [],
        error: null,
      },
    ]);
  });

  it('started then succeeded: succeeded with startedCount 1', () => {
    expect(foldJobEvents([started(JOB_A, T1), succeeded(JOB_A, T2)])).toEqual([
      {
        jobId: JOB_A,
        attempt: 1,
        status: 'succeeded',
        startedCount: 1,
        startedAt: T1,
        finishedAt: T2,
        workerId: 'worker-1',
        outputs: output,
        error: null,
      },
    ]);
  });

  it('succeeded arriving before started (reversed in the array) still ends succeeded', () => {
    const [patch] = foldJobEvents([succeeded(JOB_A, T2), started(JOB_A, T1)]);
    expect(patch).toEqual({
      jobId: JOB_A,
      attempt: 1,
      status: 'succeeded',
      startedCount: 1,
      startedAt: T1,
      finishedAt: T2,
      workerId: 'worker-1',
      outputs: output,
      error: null,
    });
  });

  it('a start that happened after the outcome (a redelivery) is counted but does not reopen the job', () => {
    const [patch] = foldJobEvents([
      started(JOB_A, T1, 1, 'worker-1'),
      succeeded(JOB_A, T2, 'worker-1'),
      started(JOB_A, T3, 2, 'worker-2'),
    ]);
    expect(patch.status).toBe('succeeded');
    expect(patch.startedCount).toBe(2);
    expect(patch.startedAt).toBe(T1);
    expect(patch.finishedAt).toBe(T2);
    expect(patch.workerId).toBe('worker-1');
  });

  it('two started deliveries give startedCount 2, the latest start and its worker', () => {
    const [patch] = foldJobEvents([
      started(JOB_A, T2, 2, 'worker-2'),
      started(JOB_A, T1, 1, 'worker-1'),
    ]);
    expect(patch).toMatchObject({
      status: 'processing',
      startedCount: 2,
      startedAt: T2,
      workerId: 'worker-2',
      finishedAt: null,
    });
  });

  it('failed carries the error and no output', () => {
    const [patch] = foldJobEvents([
      started(JOB_A, T1),
      failed(JOB_A, T2, 'worker-3'),
    ]);
    expect(patch).toEqual({
      jobId: JOB_A,
      attempt: 1,
      status: 'failed',
      startedCount: 1,
      startedAt: T1,
      finishedAt: T2,
      workerId: 'worker-3',
      outputs: [],
      error,
    });
  });

  it('an outcome alone leaves startedAt null', () => {
    const [patch] = foldJobEvents([failed(JOB_A, T2)]);
    expect(patch).toMatchObject({
      status: 'failed',
      startedCount: 0,
      startedAt: null,
      finishedAt: T2,
      error,
    });
  });

  it('the first outcome, by time, wins over a later one', () => {
    const [patch] = foldJobEvents([
      succeeded(JOB_A, T3, 'worker-2'),
      failed(JOB_A, T2, 'worker-1'),
    ]);
    expect(patch).toMatchObject({
      status: 'failed',
      finishedAt: T2,
      workerId: 'worker-1',
      error,
      outputs: [],
    });
  });

  it('gives one patch per job for the events of two jobs', () => {
    const outputB = [{ ...output[0], key: `outputs/${JOB_B}` }];
    const patches = foldJobEvents([
      started(JOB_A, T1),
      started(JOB_B, T1, 1, 'worker-9'),
      succeeded(JOB_B, T2, 'worker-9', outputB),
      failed(JOB_A, T3),
    ]);
    expect(patches).toHaveLength(2);
    const byJob = new Map(patches.map((patch) => [patch.jobId, patch]));
    expect(byJob.get(JOB_A)).toEqual({
      jobId: JOB_A,
      attempt: 1,
      status: 'failed',
      startedCount: 1,
      startedAt: T1,
      finishedAt: T3,
      workerId: 'worker-1',
      outputs: [],
      error,
    });
    expect(byJob.get(JOB_B)).toEqual({
      jobId: JOB_B,
      attempt: 1,
      status: 'succeeded',
      startedCount: 1,
      startedAt: T1,
      finishedAt: T2,
      workerId: 'worker-9',
      outputs: outputB,
      error: null,
    });
  });

  it('does not reorder or change the array it is given', () => {
    const events = [succeeded(JOB_A, T2), started(JOB_A, T1)];
    const copy = structuredClone(events);
    foldJobEvents(events);
    expect(events).toEqual(copy);
  });
});

describe('foldJobEvents with retries and runs', () => {
  const JOB = '3f1c2d4e-0000-4000-8000-000000000001';
  const event = (
    type: JobEventMessage['type'],
    at: string,
    extra: Partial<JobEventMessage> = {},
  ): JobEventMessage => ({
    eventId: jobEventId(JOB, extra.attempt ?? 1, type, extra.delivery ?? 1),
    jobId: JOB,
    type,
    attempt: 1,
    delivery: 1,
    workerId: 'w',
    at,
    ...extra,
  });
  const transient = { code: 'SOURCE_UNAVAILABLE', message: 'timed out' };

  it('a retrying job waits as queued, showing the last error; the next try moves it on', () => {
    expect(
      foldJobEvents([
        event('started', T1),
        event('retrying', T2, { error: transient }),
      ]),
    ).toEqual([
      expect.objectContaining({
        status: 'queued',
        startedCount: 1,
        error: transient,
        finishedAt: null,
      }),
    ]);
    const [patch] = foldJobEvents([
      event('retrying', T1, { error: transient }),
      event('started', T2, { delivery: 2 }),
      event('succeeded', T3, { delivery: 2, outputs: [] }),
    ]);
    expect(patch).toMatchObject({
      status: 'succeeded',
      startedCount: 1,
      error: null,
      finishedAt: T3,
    });
  });

  it('keeps the events of different runs apart, one patch each', () => {
    const patches = foldJobEvents([
      event('failed', T1, { error: transient }),
      event('started', T2, { attempt: 2 }),
    ]);
    expect(patches.map((p) => [p.attempt, p.status])).toEqual([
      [1, 'failed'],
      [2, 'processing'],
    ]);
  });
});
