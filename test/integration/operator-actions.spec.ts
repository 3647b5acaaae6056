import {
  AuditEntryView,
  BulkRetryReport,
  JobEventMessage,
  jobEventId,
  JobEventView,
  JobView,
} from '@pipeline/contracts';
import { JobEventsRepository, JobsRepository } from '@pipeline/database';
import {
  AmqpConnection,
  BrokerUnavailableError,
  DeadLetterReport,
  Topology,
} from '@pipeline/messaging';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import {
  connect,
  Channel,
  ChannelModel,
  ConfirmChannel,
  GetMessage,
} from 'amqplib';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Pool } from 'pg';
import { JobSubmissionService } from '../../apps/producer/src/job-submission.service';
import { startProducer } from '../../apps/producer/src/producer.app';
import { makeImage } from '../support/images';
import { adminFetch } from '../support/api-keys';
import { AcceptedJob, readBody } from '../support/http';
import { producerTestConfig } from '../support/producer-config';
import {
  AMQP_URL,
  createTestDatabase,
  deleteTopology,
  dropBrokerConnections,
  makeTempDir,
  uniqueName,
  waitFor,
} from '../support/resources';

/**
 * Operators' actions on jobs that went wrong, against the attempt they name:
 * parked messages of an attempt that is over, retries whose confirm came too
 * late, and dead-letter drains whose channel goes away (real RabbitMQ and
 * PostgreSQL, no workers: the tests play them).
 */
describe('Operator actions apply to the attempt they name (real RabbitMQ and PostgreSQL)', () => {
  let database: { url: string; drop: () => Promise<void> };
  let folder: { path: string; remove: () => Promise<void> };
  let app: NestFastifyApplication;
  let base: string;
  let pool: Pool;
  let topology: Topology;
  let inspector: ChannelModel;
  let channel: Channel;
  let confirmChannel: ConfirmChannel;
  let events: JobEventsRepository;

  beforeAll(async () => {
    database = await createTestDatabase();
    folder = await makeTempDir();
    await mkdir(join(folder.path, 'images'));
    await writeFile(
      join(folder.path, 'images', 'photo.jpg'),
      await makeImage(64, 48),
    );
    app = await startProducer(
      producerTestConfig({
        LOG_LEVEL: 'error',
        DATABASE_URL: database.url,
        AMQP_PREFIX: uniqueName('operator'),
        STORAGE_DIR: join(folder.path, 'storage'),
        IMAGES_DIR: join(folder.path, 'images'),
        PUBLISH_TIMEOUT_MS: '2000',
      }),
    );
    base = await app.getUrl();
    topology = app.get(AmqpConnection).topology;
    pool = new Pool({ connectionString: database.url });
    events = new JobEventsRepository(pool);
    inspector = await connect(AMQP_URL);
    channel = await inspector.createChannel();
    confirmChannel = await inspector.createConfirmChannel();
  });

  afterAll(async () => {
    await app?.close();
    await inspector?.close();
    await pool?.end();
    if (topology) await deleteTopology(topology);
    await database?.drop();
    await folder?.remove();
  });

  afterEach(() => jest.restoreAllMocks());

  const post = (path: string, body?: unknown) =>
    adminFetch(`${base}${path}`, {
      method: 'POST',
      ...(body === undefined
        ? {}
        : {
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(body),
          }),
    });
  const jobOf = async (id: string) =>
    readBody<JobView>(await adminFetch(`${base}/v1/jobs/${id}`));
  const timelineOf = async (id: string) =>
    (
      await readBody<JobEventView[]>(
        await adminFetch(`${base}/v1/jobs/${id}/events`),
      )
    ).map((event) => `${event.type}/${event.attempt}`);
  const depth = async (queue: string) =>
    (await channel.checkQueue(queue)).messageCount;

  /** The next message for the workers, taken as a worker would take it. */
  async function takeJobMessage(): Promise<{
    message: GetMessage;
    body: { jobId: string; attempt: number };
  }> {
    const message = await channel.get(topology.jobsQueue, { noAck: true });
    expect(message).not.toBe(false);
    return {
      message: message as GetMessage,
      body: JSON.parse((message as GetMessage).content.toString()) as {
        jobId: string;
        attempt: number;
      },
    };
  }

  /**
   * Puts a job message into the dead-letter queue as the transport parks it:
   * the same body and properties.
   */
  async function park(message: GetMessage): Promise<void> {
    await new Promise<void>((resolve, reject) =>
      confirmChannel.sendToQueue(
        topology.jobsDeadLetterQueue,
        message.content,
        { ...message.properties, persistent: true },
        (error?: Error | null) => (error ? reject(error) : resolve()),
      ),
    );
  }

  const outcome = (
    id: string,
    attempt: number,
    type: 'succeeded' | 'failed',
  ): JobEventMessage => {
    const at = new Date().toISOString();
    return {
      eventId: jobEventId(id, attempt, type, 1),
      jobId: id,
      type,
      attempt,
      delivery: 1,
      workerId: 'worker-under-test',
      at,
      startedAt: at,
      ...(type === 'succeeded'
        ? {
            outputs: [
              {
                name: 'default',
                key: `outputs/${id}-${attempt}`,
                format: 'jpeg' as const,
                width: 64,
                height: 48,
                sizeBytes: 100,
              },
            ],
          }
        : {
            error: {
              code: 'SOURCE_UNAVAILABLE',
              message: 'Gave up after 4 tries: timed out',
            },
          }),
    };
  };

  /**
   * A job whose first attempt gave up after its tries: failed, and its message
   * parked.
   */
  async function gaveUpAndParked(): Promise<string> {
    const accepted = await post('/v1/jobs', {
      source: { path: 'photo.jpg' },
      operations: [{ op: 'flip' }],
    });
    expect(accepted.status).toBe(202);
    const { id } = await readBody<AcceptedJob>(accepted);
    const { message, body } = await takeJobMessage();
    expect(body).toMatchObject({ jobId: id, attempt: 1 });
    await events.record([outcome(id, 1, 'failed')]);
    await park(message);
    expect(await jobOf(id)).toMatchObject({ status: 'failed', attempt: 1 });
    return id;
  }

  async function lastAudit(action: string): Promise<AuditEntryView> {
    const [entry] = await readBody<AuditEntryView[]>(
      await adminFetch(`${base}/v1/audit?action=${action}&limit=1`),
    );
    return entry;
  }

  beforeEach(async () => {
    await channel.purgeQueue(topology.jobsQueue);
    await channel.purgeQueue(topology.jobsDeadLetterQueue);
  });

  it('a purge drops the parked message of an attempt that is over, and the running attempt still succeeds', async () => {
    const id = await gaveUpAndParked();
    const bulk = await post('/v1/jobs/retry-failed', {
      code: 'SOURCE_UNAVAILABLE',
    });
    expect((await readBody<BulkRetryReport>(bulk)).retried).toEqual([
      { id, attempt: 2 },
    ]);
    expect((await takeJobMessage()).body).toMatchObject({
      jobId: id,
      attempt: 2,
    });

    const purge = await adminFetch(`${base}/v1/dead-letters/jobs`, {
      method: 'DELETE',
    });
    expect(purge.status).toBe(200);
    expect(await readBody(purge)).toEqual({
      done: [],
      kept: [],
      dropped: [
        {
          messageId: id,
          reason: `the message is of attempt 1 of job ${id}, which is at attempt 2 now`,
        },
      ],
    });
    expect(await depth(topology.jobsDeadLetterQueue)).toBe(0);
    expect(await jobOf(id)).toMatchObject({
      status: 'queued',
      attempt: 2,
      error: null,
    });
    expect((await lastAudit('dead-letters.jobs.purged')).detail).toMatchObject({
      done: 0,
      kept: 0,
      dropped: 1,
    });

    await events.record([outcome(id, 2, 'succeeded')]);
    expect(await jobOf(id)).toMatchObject({
      status: 'succeeded',
      attempt: 2,
      error: null,
      outputs: [{ name: 'default', width: 64 }],
    });
    expect(await timelineOf(id)).toEqual([
      'queued/1',
      'started/1',
      'failed/1',
      'retried/2',
      'started/2',
      'succeeded/2',
    ]);
  });

  it("a purge of the current attempt's message still fails the job with PURGED", async () => {
    const accepted = await readBody<AcceptedJob>(
      await post('/v1/jobs', { source: { path: 'photo.jpg' }, operations: [] }),
    );
    const { message } = await takeJobMessage();
    await park(message);
    const purge = await adminFetch(`${base}/v1/dead-letters/jobs`, {
      method: 'DELETE',
    });
    expect(await readBody(purge)).toEqual({
      done: [accepted.id],
      kept: [],
      dropped: [],
    });
    expect(await jobOf(accepted.id)).toMatchObject({
      status: 'failed',
      attempt: 1,
      error: { code: 'PURGED' },
    });
    expect(await timelineOf(accepted.id)).toEqual(['queued/1', 'purged/1']);
  });

  it('a replay drops the parked message of an attempt that is over, and starts no attempt beside the running one', async () => {
    const id = await gaveUpAndParked();
    const retry = await post(`/v1/jobs/${id}/retry`);
    expect(retry.status).toBe(202);
    expect(await readBody(retry)).toEqual({ id, status: 'queued', attempt: 2 });
    const { message: second } = await takeJobMessage();

    const replay = await post('/v1/dead-letters/jobs/replay');
    expect(replay.status).toBe(200);
    expect(await readBody(replay)).toEqual({
      done: [],
      kept: [],
      dropped: [
        {
          messageId: id,
          reason: `the message is of attempt 1 of job ${id}, which is at attempt 2 now`,
        },
      ],
    });
    expect(await depth(topology.jobsQueue)).toBe(0);
    expect(await depth(topology.jobsDeadLetterQueue)).toBe(0);
    expect(await jobOf(id)).toMatchObject({ status: 'queued', attempt: 2 });
    expect(
      (await lastAudit('dead-letters.jobs.replayed')).detail,
    ).toMatchObject({ done: 0, kept: 0, dropped: 1 });

    // The second attempt gives up too and its own message is parked: that one
    // is replayed.
    await events.record([outcome(id, 2, 'failed')]);
    await park(second);
    expect(await readBody(await post('/v1/dead-letters/jobs/replay'))).toEqual({
      done: [id],
      kept: [],
      dropped: [],
    });
    expect((await takeJobMessage()).body).toMatchObject({
      jobId: id,
      attempt: 3,
    });
    expect(await timelineOf(id)).toEqual([
      'queued/1',
      'started/1',
      'failed/1',
      'retried/2',
      'started/2',
      'failed/2',
      'retried/3',
    ]);
  });

  it('a retry whose confirm came too late burns its attempt number: its late message changes nothing, and the next retry runs and finishes', async () => {
    const id = await gaveUpAndParked();
    const jobs = new JobsRepository(pool);
    const submission = app.get(JobSubmissionService);
    const actor = {
      apiKeyId: (await jobOf(id)).apiKeyId!,
      requestId: 'late-confirm',
    };
    // The broker takes the message, but its confirm arrives after
    // PUBLISH_TIMEOUT_MS.
    const lateConfirm = jobs.startNextAttempt(
      id,
      { reason: 'retried by an operator', retryable: ['failed'], actor },
      async (job) => {
        await submission.publish(job, job.attempt);
        throw new BrokerUnavailableError(
          'RabbitMQ did not confirm within 2000 ms',
        );
      },
    );
    await expect(lateConfirm).rejects.toThrow('did not confirm within 2000 ms');
    expect(await jobOf(id)).toMatchObject({
      status: 'failed',
      attempt: 1,
      error: { code: 'SOURCE_UNAVAILABLE' },
    });
    expect(
      (
        await pool.query<{ attempt_seq: number }>(
          'SELECT attempt_seq FROM jobs WHERE id = $1',
          [id],
        )
      ).rows[0].attempt_seq,
    ).toBe(2);

    // A worker runs the late message all the same: its events name an attempt
    // the job never reached.
    const { body: late } = await takeJobMessage();
    expect(late).toMatchObject({ jobId: id, attempt: 2 });
    await events.record([outcome(id, 2, 'succeeded')]);
    expect(await jobOf(id)).toMatchObject({
      status: 'failed',
      attempt: 1,
      outputs: [],
    });

    const before = new Date();
    const retry = await post(`/v1/jobs/${id}/retry`);
    expect(retry.status).toBe(202);
    expect(await readBody(retry)).toEqual({ id, status: 'queued', attempt: 3 });
    expect((await takeJobMessage()).body).toMatchObject({
      jobId: id,
      attempt: 3,
    });
    const { rows } = await pool.query<{
      attempt_seq: number;
      published_at: Date;
    }>('SELECT attempt_seq, published_at FROM jobs WHERE id = $1', [id]);
    expect(rows[0].attempt_seq).toBe(3);
    expect(rows[0].published_at.getTime()).toBeGreaterThanOrEqual(
      before.getTime() - 1000,
    );

    await events.record([outcome(id, 3, 'succeeded')]);
    expect(await jobOf(id)).toMatchObject({
      status: 'succeeded',
      attempt: 3,
      error: null,
      outputs: [{ name: 'default' }],
    });
    // The late run shows in the timeline, as what happened; the job's row never
    // took it.
    expect(await timelineOf(id)).toEqual([
      'queued/1',
      'started/1',
      'failed/1',
      'started/2',
      'succeeded/2',
      'retried/3',
      'started/3',
      'succeeded/3',
    ]);
  });

  it('a replay whose channel drops mid-pass stops and says why, completes its audit entry, and the next pass drops the message it had replayed', async () => {
    const first = await gaveUpAndParked();
    const second = await gaveUpAndParked();
    const connection = app.get(AmqpConnection);
    const submission = app.get(JobSubmissionService);
    const publish = submission.publish.bind(submission);
    // The broker drops the producer's connection right after it confirmed the
    // replayed job: the parked message can then no longer be acked.
    jest
      .spyOn(submission, 'publish')
      .mockImplementationOnce(async (...args) => {
        await publish(...args);
        const model = connection.current!;
        const closed = new Promise((resolve) => model.once('close', resolve));
        expect(await dropBrokerConnections(`${topology.prefix} producer`)).toBe(
          1,
        );
        await closed;
      });

    const replay = await post('/v1/dead-letters/jobs/replay');
    expect(replay.status).toBe(200);
    const report = await readBody<DeadLetterReport>(replay);
    expect(report).toMatchObject({ done: [first], kept: [], dropped: [] });
    expect(report.stoppedBecause).toMatch(
      new RegExp(
        `^the channel to RabbitMQ closed before message ${first} could be taken out of the queue`,
      ),
    );
    expect((await lastAudit('dead-letters.jobs.replayed')).detail).toEqual({
      limit: 1000,
      done: 1,
      kept: 0,
      dropped: 0,
      stoppedBecause: report.stoppedBecause,
    });
    expect(await jobOf(first)).toMatchObject({ status: 'queued', attempt: 2 });
    expect(await jobOf(second)).toMatchObject({ status: 'failed', attempt: 1 });

    await waitFor(
      async () =>
        (await adminFetch(`${base}/health/ready`)).status === 200
          ? true
          : undefined,
      20_000,
      'the producer to reconnect',
    );
    // The replayed message went back to the queue with the channel; the
    // untouched one is still there.
    expect(await depth(topology.jobsDeadLetterQueue)).toBe(2);
    expect((await takeJobMessage()).body).toMatchObject({
      jobId: first,
      attempt: 2,
    });

    const again = await readBody(await post('/v1/dead-letters/jobs/replay'));
    expect(again).toEqual({
      done: [second],
      kept: [],
      dropped: [
        {
          messageId: first,
          reason: `the message is of attempt 1 of job ${first}, which is at attempt 2 now`,
        },
      ],
    });
    expect((await takeJobMessage()).body).toMatchObject({
      jobId: second,
      attempt: 2,
    });
    expect(await depth(topology.jobsQueue)).toBe(0);
    expect(await depth(topology.jobsDeadLetterQueue)).toBe(0);
    expect(await jobOf(first)).toMatchObject({ status: 'queued', attempt: 2 });
    expect(await timelineOf(first)).toEqual([
      'queued/1',
      'started/1',
      'failed/1',
      'retried/2',
    ]);
  });
});
