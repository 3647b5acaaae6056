import { Logger } from '@nestjs/common';
import { JobEventMessage, WorkerHeartbeatMessage } from '@pipeline/contracts';
import {
  JobEventsRepository,
  RecordOutcome,
  WorkersRepository,
} from '@pipeline/database';
import { AmqpContext, PermanentMessageError } from '@pipeline/messaging';
import { WriterMetrics } from '@pipeline/metrics';
import { loadConfig, WriterConfig } from '@pipeline/platform';
import { Registry } from 'prom-client';
import { JobEventsHandler } from './job-events.handler';
import { JobEventsRecorder } from './job-events.recorder';
import { WorkerHeartbeats } from './worker-heartbeats.service';

/** A job id whose last digit is `n`. */
const jobId = (n: number) => `3b241101-e2bb-4255-8caf-4136c566a96${n}`;

const event = (n: number): JobEventMessage => ({
  eventId: `${jobId(n)}/1/outcome`,
  jobId: jobId(n),
  attempt: 1,
  delivery: 1,
  workerId: 'worker-1',
  type: 'failed',
  error: { code: 'INVALID_IMAGE', message: 'not an image' },
  at: '2024-05-01T12:00:00.000Z',
});

const outcome = (orphans: string[] = []): RecordOutcome => ({
  recorded: 1,
  duplicates: 0,
  orphans,
  finished: { succeeded: 0, failed: 1 },
});

/**
 * A job events table that stores every batch, refuses any batch holding a
 * refused event, and is away for the first `awayFor` calls.
 */
class InMemoryJobEvents {
  readonly batches: string[][] = [];
  readonly refused = new Set<string>();
  awayFor = 0;

  record(batch: JobEventMessage[]): Promise<RecordOutcome> {
    if (this.awayFor > 0) {
      this.awayFor--;
      return Promise.reject(
        Object.assign(new Error('connect ECONNREFUSED'), {
          code: 'ECONNREFUSED',
        }),
      );
    }
    const bad = batch.find((each) => this.refused.has(each.eventId));
    if (bad)
      return Promise.reject(new Error(`violates a check: ${bad.eventId}`));
    this.batches.push(batch.map((each) => each.eventId));
    return Promise.resolve(outcome());
  }
}

function recorderWith(table: InMemoryJobEvents) {
  const config = loadConfig(WriterConfig, { WRITER_MAX_BATCH: '10' });
  return new JobEventsRecorder(
    table as unknown as JobEventsRepository,
    new WriterMetrics(new Registry()),
    config,
  );
}

beforeAll(() => {
  Logger.overrideLogger(false);
});

describe('JobEventsRecorder', () => {
  it('commits the events that arrive together in one batch', async () => {
    const table = new InMemoryJobEvents();
    const recorder = recorderWith(table);
    const results = await Promise.all(
      [1, 2, 3].map((n) => recorder.record(event(n))),
    );
    expect(results).toEqual([
      { stored: true },
      { stored: true },
      { stored: true },
    ]);
    expect(table.batches).toEqual([
      [
        `${jobId(1)}/1/outcome`,
        `${jobId(2)}/1/outcome`,
        `${jobId(3)}/1/outcome`,
      ],
    ]);
  });

  it('reports an event the database refuses on its own, storing the rest of its batch', async () => {
    const table = new InMemoryJobEvents();
    table.refused.add(`${jobId(2)}/1/outcome`);
    const recorder = recorderWith(table);
    const results = await Promise.all(
      [1, 2, 3].map((n) => recorder.record(event(n))),
    );
    expect(results).toEqual([
      { stored: true },
      { stored: false, reason: `violates a check: ${jobId(2)}/1/outcome` },
      { stored: true },
    ]);
    expect(table.batches).toEqual([
      [`${jobId(1)}/1/outcome`],
      [`${jobId(3)}/1/outcome`],
    ]);
  });

  it('waits out a database outage and then stores the events', async () => {
    const table = new InMemoryJobEvents();
    table.awayFor = 1;
    const recorder = recorderWith(table);
    await expect(recorder.record(event(1))).resolves.toEqual({
      stored: true,
    });
    expect(table.batches).toEqual([[`${jobId(1)}/1/outcome`]]);
  });

  it('gives the events back when stopping while the database is away', async () => {
    const table = new InMemoryJobEvents();
    table.awayFor = Infinity;
    const recorder = recorderWith(table);
    recorder.beforeApplicationShutdown();
    await expect(recorder.record(event(1))).rejects.toThrow(
      'stopping while PostgreSQL is unavailable',
    );
  });
});

describe('JobEventsHandler', () => {
  const context = { correlationId: 'corr-1' } as AmqpContext;

  it('hands a valid event to the recorder', async () => {
    const table = new InMemoryJobEvents();
    const handler = new JobEventsHandler(recorderWith(table));
    await handler.record(event(1), context);
    expect(table.batches).toEqual([[`${jobId(1)}/1/outcome`]]);
  });

  it('parks an event the database refuses', async () => {
    const table = new InMemoryJobEvents();
    table.refused.add(`${jobId(1)}/1/outcome`);
    const handler = new JobEventsHandler(recorderWith(table));
    const recording = handler.record(event(1), context);
    await expect(recording).rejects.toBeInstanceOf(PermanentMessageError);
    await expect(recording).rejects.toThrow(
      `the database refused the event: violates a check: ${jobId(1)}/1/outcome`,
    );
  });
});

describe('WorkerHeartbeats', () => {
  const beat: WorkerHeartbeatMessage = {
    workerId: 'worker-1',
    host: 'host',
    pid: 1,
    startedAt: '2024-05-01T12:00:00.000Z',
    at: '2024-05-01T12:00:10.000Z',
    jobsSucceeded: 0,
    jobsFailed: 0,
    inFlight: 0,
    stopping: false,
  };

  it('stores a heartbeat', async () => {
    const stored: WorkerHeartbeatMessage[][] = [];
    const workers = {
      recordHeartbeats: (batch: WorkerHeartbeatMessage[]) => {
        stored.push(batch);
        return Promise.resolve();
      },
    } as unknown as WorkersRepository;
    await new WorkerHeartbeats(workers).record(beat);
    expect(stored).toEqual([[beat]]);
  });

  it('drops a heartbeat the database cannot take: the next one says more', async () => {
    const workers = {
      recordHeartbeats: () => Promise.reject(new Error('connection refused')),
    } as unknown as WorkersRepository;
    await expect(
      new WorkerHeartbeats(workers).record(beat),
    ).resolves.toBeUndefined();
  });
});
