import { Logger } from '@nestjs/common';
import { ImageJobMessage, JobEventMessage } from '@pipeline/contracts';
import { SourceFetchError } from '@pipeline/fetching';
import {
  AmqpContext,
  MessagePublisher,
  OutcomeNotPublishedError,
  PermanentMessageError,
} from '@pipeline/messaging';
import { WorkerMetrics } from '@pipeline/metrics';
import { loadConfig, WorkerConfig } from '@pipeline/platform';
import { ConsumeMessage } from 'amqplib';
import { Registry } from 'prom-client';
import { ImageJobHandler } from './image-job.handler';
import { ImageJobProcessor } from './image-job.processor';
import { ImageJobRunner, JobDelivery } from './image-job.runner';
import { JobEventPublisher, Outcome } from './job-event-publisher';
import { WorkerActivity } from './worker-activity';

const JOB_ID = '3b241101-e2bb-4255-8caf-4136c566a962';

const job = (): ImageJobMessage => ({
  jobId: JOB_ID,
  attempt: 1,
  source: { kind: 'images', path: 'photos/cat.jpg' },
  operations: [{ op: 'grayscale' }],
  output: { format: 'png' },
  submittedAt: '2024-05-01T12:00:00.000Z',
});

/** A delivery of a job message: the first, unless told otherwise. */
const delivery = (
  overrides: Partial<JobDelivery> & { redelivered?: boolean } = {},
): JobDelivery => ({
  deliveryNumber: 1,
  correlationId: 'corr-1',
  tryNumber: 1,
  isLastTry: false,
  message: {
    fields: { redelivered: overrides.redelivered ?? false },
  } as ConsumeMessage,
  ...overrides,
});

/** A broker that keeps what is published, or refuses the types told. */
class PublishedEvents {
  readonly events: JobEventMessage[] = [];
  refuse = new Set<string>();

  readonly publisher = {
    publish: (_type: string, _id: string, payload: object) => {
      const event = payload as JobEventMessage;
      if (this.refuse.has(event.type))
        return Promise.reject(new Error('broker away'));
      this.events.push(event);
      return Promise.resolve();
    },
  } as unknown as MessagePublisher;

  get types(): string[] {
    return this.events.map((event) => event.type);
  }
}

function workerConfig(env: NodeJS.ProcessEnv = {}): WorkerConfig {
  return loadConfig(WorkerConfig, {
    WORKER_ID: 'worker-1',
    STARTED_EVENT_AFTER_MS: '1000',
    ...env,
  });
}

/** A runner whose processing is `process`, and what it published. */
function runnerWith(
  process: (mayBeStored: boolean) => Promise<Outcome>,
  env: NodeJS.ProcessEnv = {},
) {
  const config = workerConfig(env);
  const broker = new PublishedEvents();
  const activity = new WorkerActivity();
  const processor = {
    process: (_job: unknown, mayBeStored: boolean) => process(mayBeStored),
  } as unknown as ImageJobProcessor;
  const events = new JobEventPublisher(broker.publisher, config);
  const metrics = new WorkerMetrics(
    new Registry(),
    1,
    () => 0,
    () => 0,
  );
  const runner = new ImageJobRunner(
    processor,
    events,
    activity,
    metrics,
    config,
  );
  return { runner, broker, activity, events };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const stored = {
  name: 'default',
  key: `outputs/${JOB_ID}/1/default`,
  format: 'png' as const,
  width: 4,
  height: 3,
  sizeBytes: 100,
  sha256: 'ab'.repeat(32),
};
const succeeded = (): Promise<Outcome> =>
  Promise.resolve({ type: 'succeeded', outputs: [stored] });

beforeAll(() => {
  Logger.overrideLogger(false);
});

describe('ImageJobRunner', () => {
  it('publishes the outcome of a job that succeeded, with when it started, and counts it', async () => {
    const { runner, broker, activity } = runnerWith(succeeded);
    await runner.run(job(), delivery());
    expect(broker.types).toEqual(['succeeded']);
    const [event] = broker.events;
    expect(event).toMatchObject({
      eventId: `${JOB_ID}/1/outcome`,
      jobId: JOB_ID,
      attempt: 1,
      delivery: 1,
      workerId: 'worker-1',
      outputs: [stored],
    });
    expect(Date.parse(event.startedAt!)).toBeLessThanOrEqual(
      Date.parse(event.at),
    );
    expect(activity).toMatchObject({
      jobsSucceeded: 1,
      jobsFailed: 0,
      processing: 0,
    });
  });

  it('publishes a permanent failure as the outcome and settles the message', async () => {
    const error = { code: 'INVALID_IMAGE', message: 'not an image' };
    const { runner, broker, activity } = runnerWith(() =>
      Promise.resolve({ type: 'failed', error }),
    );
    await runner.run(job(), delivery());
    expect(broker.events).toMatchObject([{ type: 'failed', error }]);
    expect(activity.jobsFailed).toBe(1);
  });

  it('publishes a transient failure as retrying and throws it again for the message to be retried', async () => {
    const failure = new Error('ECONNRESET');
    const { runner, broker, activity } = runnerWith(() =>
      Promise.reject(failure),
    );
    await expect(runner.run(job(), delivery({ tryNumber: 2 }))).rejects.toBe(
      failure,
    );
    expect(broker.events).toMatchObject([
      {
        type: 'retrying',
        eventId: `${JOB_ID}/1/retrying/1`,
        error: { code: 'INTERNAL', message: 'ECONNRESET' },
      },
    ]);
    expect(activity.jobsFailed).toBe(0);
  });

  it('fails the job for good after its last try, naming the tries, and parks the message', async () => {
    const { runner, broker, activity } = runnerWith(() =>
      Promise.reject(new Error('ECONNRESET')),
    );
    const run = runner.run(job(), delivery({ tryNumber: 3, isLastTry: true }));
    await expect(run).rejects.toBeInstanceOf(PermanentMessageError);
    await expect(run).rejects.toThrow('Gave up after 3 tries: ECONNRESET');
    expect(broker.events).toMatchObject([
      {
        type: 'failed',
        error: {
          code: 'INTERNAL',
          message: 'Gave up after 3 tries: ECONNRESET',
        },
      },
    ]);
    expect(activity.jobsFailed).toBe(1);
  });

  it('says "1 try" when the only try failed', async () => {
    const { runner } = runnerWith(() => Promise.reject(new Error('EIO')));
    await expect(
      runner.run(job(), delivery({ tryNumber: 1, isLastTry: true })),
    ).rejects.toThrow('Gave up after 1 try: EIO');
  });

  it('reports a transient download failure with its own code', async () => {
    const failure = new SourceFetchError('SOURCE_UNAVAILABLE', false, '503');
    const { runner, broker } = runnerWith(() => Promise.reject(failure));
    await expect(runner.run(job(), delivery())).rejects.toBe(failure);
    expect(broker.events).toMatchObject([
      {
        type: 'retrying',
        error: { code: 'SOURCE_UNAVAILABLE', message: '503' },
      },
    ]);
  });

  it('announces the start only of a job that runs longer than STARTED_EVENT_AFTER_MS', async () => {
    const slow = runnerWith(
      async () => {
        await sleep(80);
        return succeeded();
      },
      { STARTED_EVENT_AFTER_MS: '10' },
    );
    await slow.runner.run(job(), delivery());
    expect(slow.broker.types).toEqual(['started', 'succeeded']);
    expect(slow.broker.events[0].eventId).toBe(`${JOB_ID}/1/started/1`);
    expect(slow.broker.events[0].at).toBe(slow.broker.events[1].startedAt);

    const quick = runnerWith(succeeded, { STARTED_EVENT_AFTER_MS: '200' });
    await quick.runner.run(job(), delivery());
    await sleep(250);
    expect(quick.broker.types).toEqual(['succeeded']);
  });

  it('does not redo a job for a started event the broker did not take', async () => {
    const { runner, broker } = runnerWith(
      async () => {
        await sleep(50);
        return succeeded();
      },
      { STARTED_EVENT_AFTER_MS: '5' },
    );
    broker.refuse.add('started');
    await runner.run(job(), delivery());
    expect(broker.types).toEqual(['succeeded']);
  });

  it('fails with OutcomeNotPublishedError when the broker does not take the outcome', async () => {
    const { runner, broker, activity } = runnerWith(succeeded);
    broker.refuse.add('succeeded');
    await expect(runner.run(job(), delivery())).rejects.toBeInstanceOf(
      OutcomeNotPublishedError,
    );
    expect(activity.jobsSucceeded).toBe(0);
  });

  it.each([
    ['a first delivery', {}, false],
    ['a message the broker marks redelivered', { redelivered: true }, true],
    ['a later delivery', { deliveryNumber: 2 }, true],
  ])(
    'looks for outputs an earlier delivery stored only on a redelivery: %s',
    async (_label, overrides, mayBeStored) => {
      const seen: boolean[] = [];
      const { runner } = runnerWith((stored) => {
        seen.push(stored);
        return succeeded();
      });
      await runner.run(job(), delivery(overrides));
      expect(seen).toEqual([mayBeStored]);
    },
  );

  it('runs WORKER_CONCURRENCY jobs at once; the others wait their turn', async () => {
    let running = 0;
    let most = 0;
    const { runner } = runnerWith(
      async () => {
        most = Math.max(most, ++running);
        await sleep(20);
        running--;
        return succeeded();
      },
      { WORKER_CONCURRENCY: '2', WORKER_PREFETCH: '4' },
    );
    await Promise.all([1, 2, 3, 4].map(() => runner.run(job(), delivery())));
    expect(most).toBe(2);
  });
});

describe('ImageJobHandler', () => {
  const handlerWith = () => {
    const { runner, broker, activity, events } = runnerWith(succeeded);
    const handler = new ImageJobHandler(runner, events, activity);
    const context = delivery() as unknown as AmqpContext;
    return { handler, broker, activity, context };
  };

  it('hands a valid job to the runner', async () => {
    const { handler, broker, activity, context } = handlerWith();
    await handler.handle(job(), context);
    expect(broker.types).toEqual(['succeeded']);
    expect(activity.inFlight).toBe(0);
  });

  it('fails the job named by an invalid message and parks the message', async () => {
    const { handler, broker, activity, context } = handlerWith();
    const payload = { ...job(), attempt: 2, operations: 'none' };
    await expect(handler.handle(payload, context)).rejects.toBeInstanceOf(
      PermanentMessageError,
    );
    expect(broker.events).toMatchObject([
      {
        type: 'failed',
        jobId: JOB_ID,
        attempt: 2,
        error: { code: 'INVALID_MESSAGE' },
      },
    ]);
    expect(activity.inFlight).toBe(0);
  });

  it('parks an invalid message that names no job without publishing', async () => {
    const { handler, broker, context } = handlerWith();
    await expect(
      handler.handle({ jobId: 'not-a-job' }, context),
    ).rejects.toThrow(/^invalid job message: /);
    expect(broker.events).toEqual([]);
  });
});
