import { NestFastifyApplication } from '@nestjs/platform-fastify';
import {
  ImageJobMessage,
  imageJobMessage,
  JobEventMessage,
  jobEventId,
  MessageType,
} from '@pipeline/contracts';
import {
  BOOTSTRAP_ADMIN_KEY_ID,
  JobsRepository,
  SWEEP_LOCK_KEY,
} from '@pipeline/database';
import { Topology } from '@pipeline/messaging';
import { loadConfig, WriterConfig } from '@pipeline/platform';
import { randomUUID } from 'node:crypto';
import { Pool } from 'pg';
import { JobSweeper } from '../../apps/results-writer/src/job-sweeper.service';
import { startWriter } from '../../apps/results-writer/src/writer.app';
import { connectTestBroker, TestBroker } from '../support/broker';
import {
  AMQP_URL,
  createTestDatabase,
  deleteTopology,
  uniqueName,
  waitFor,
} from '../support/resources';

/**
 * The results writer's sweeper against the real broker and database, one pass
 * at a time (its own timer is off): jobs nobody confirmed are published again,
 * jobs nothing can move are flagged.
 */
describe('Job sweeper (real RabbitMQ and PostgreSQL)', () => {
  let database: { url: string; drop: () => Promise<void> };
  let writer: NestFastifyApplication;
  let sweeper: JobSweeper;
  let pool: Pool;
  let jobs: JobsRepository;
  let topology: Topology;
  let broker: TestBroker;

  beforeAll(async () => {
    database = await createTestDatabase();
    const config = loadConfig(WriterConfig, {
      PORT: '0',
      LOG_LEVEL: 'error',
      HOST: '127.0.0.1',
      AMQP_URL,
      AMQP_PREFIX: uniqueName('sweeper'),
      DATABASE_URL: database.url,
      SWEEP_INTERVAL_S: '0',
      SWEEP_REPUBLISH_AFTER_S: '30',
      WORKER_GONE_AFTER_S: '20',
    });
    writer = await startWriter(config);
    sweeper = writer.get(JobSweeper);
    topology = new Topology(config.AMQP_PREFIX, config.AMQP_DELIVERY_LIMIT);
    pool = new Pool({ connectionString: database.url });
    jobs = new JobsRepository(pool);
    broker = await connectTestBroker(topology);
  });

  afterAll(async () => {
    await writer.close();
    await broker.close();
    await pool.end();
    await deleteTopology(topology);
    await database.drop();
  });

  beforeEach(async () => {
    // Each test judges the whole system: start from no jobs and empty queues.
    await pool.query('DELETE FROM jobs');
    await pool.query('DELETE FROM workers');
    for (const queue of [topology.jobsQueue, topology.jobsDeadLetterQueue])
      await broker.channel.purgeQueue(queue);
  });

  /**
   * A queued job as a producer leaves it; unpublished: the producer died before
   * it marked the confirm.
   */
  async function queuedJob(
    ageSeconds: number,
    published: boolean,
  ): Promise<string> {
    const id = randomUUID();
    const createdAt = new Date(Date.now() - ageSeconds * 1000);
    await jobs.insertQueued({
      id,
      apiKeyId: BOOTSTRAP_ADMIN_KEY_ID,
      source: { kind: 'images', path: 'a.jpg' },
      operations: [{ op: 'grayscale' }],
      output: { format: 'png' },
      createdAt,
    });
    if (published) await jobs.markPublished(id);
    return id;
  }

  /** A job that a worker started `ageSeconds` ago. */
  async function processingJob(
    ageSeconds: number,
    workerId: string,
  ): Promise<string> {
    const id = await queuedJob(ageSeconds, true);
    await pool.query(
      `UPDATE jobs SET status = 'processing', worker_id = $2, started_at = now() - make_interval(secs => $3), updated_at = now() - make_interval(secs => $3) WHERE id = $1`,
      [id, workerId, ageSeconds],
    );
    return id;
  }

  async function heartbeat(
    workerId: string,
    secondsAgo: number,
    inFlight: number,
  ): Promise<void> {
    await pool.query(
      `INSERT INTO workers (id, host, pid, started_at, last_seen_at, jobs_succeeded, jobs_failed, in_flight)
       VALUES ($1, 'host', 1, now() - interval '1 hour', now() - make_interval(secs => $2), 0, 0, $3)
       ON CONFLICT (id) DO UPDATE SET last_seen_at = excluded.last_seen_at, in_flight = excluded.in_flight`,
      [workerId, secondsAgo, inFlight],
    );
  }

  async function ageRows(ids: string[], seconds: number): Promise<void> {
    await pool.query(
      'UPDATE jobs SET updated_at = now() - make_interval(secs => $2) WHERE id = ANY($1::uuid[])',
      [ids, seconds],
    );
  }

  const jobMessages = async (): Promise<ImageJobMessage[]> => {
    const messages: ImageJobMessage[] = [];
    for (;;) {
      const message = await broker.channel.get(topology.jobsQueue, {
        noAck: true,
      });
      if (message === false) return messages;
      messages.push(
        JSON.parse(message.content.toString('utf8')) as ImageJobMessage,
      );
    }
  };

  const stuckReason = async (id: string) =>
    (await jobs.findById(id))?.stuckReason ?? null;

  it('publishes again a queued job whose confirm was never recorded, once it is older than the wait, and marks it published', async () => {
    const orphan = await queuedJob(120, false);
    const young = await queuedJob(0, false);
    const confirmed = await queuedJob(120, true);
    await ageRows([orphan], 120);
    expect(await sweeper.sweep()).toBe(true);
    const messages = await waitFor(
      async () => {
        const got = await jobMessages();
        return got.length > 0 ? got : undefined;
      },
      5000,
      'the republished message',
    );
    expect(
      messages.map((message) => ({
        jobId: message.jobId,
        attempt: message.attempt,
        operations: message.operations,
      })),
    ).toEqual([
      { jobId: orphan, attempt: 1, operations: [{ op: 'grayscale' }] },
    ]);
    const published = await pool.query<{ id: string }>(
      'SELECT id FROM jobs WHERE published_at IS NOT NULL ORDER BY id',
    );
    expect(published.rows.map((row) => row.id).sort()).toEqual(
      [orphan, confirmed].sort(),
    );
    expect((await jobs.findById(young))?.status).toBe('queued');
    // A second pass finds nothing left to publish.
    await sweeper.sweep();
    expect(await jobMessages()).toEqual([]);
  });

  it('flags a processing job whose worker is gone and a queued job with no message, on the second quiet pass, with the reason', async () => {
    await heartbeat('worker-gone', 300, 1);
    await heartbeat('worker-idle', 1, 0);
    const orphaned = await processingJob(120, 'worker-gone');
    const lost = await queuedJob(120, true);
    await ageRows([lost], 120);
    await sweeper.sweep();
    expect(await stuckReason(orphaned)).toBeNull();
    await sweeper.sweep();
    expect(await stuckReason(orphaned)).toBe(
      'it was processing on worker worker-gone, which is gone, but no job message waits in any queue and no worker is busy. Retry or cancel it.',
    );
    expect(await stuckReason(lost)).toBe(
      'it is queued, but no job message waits in any queue and no worker is busy. Retry or cancel it.',
    );
    const { jobs: listed } = await jobs.list({
      limit: 10,
      stuckBefore: new Date(Date.now() - 3_600_000),
    });
    expect(listed.map((job) => job.id).sort()).toEqual([orphaned, lost].sort());
    expect(
      (await jobs.counts(new Date(Date.now() - 3_600_000), new Date())).stuck,
    ).toBe(2);
  });

  it('clears the flag when the job moves again', async () => {
    await heartbeat('worker-gone', 300, 0);
    const id = await processingJob(120, 'worker-gone');
    await sweeper.sweep();
    await sweeper.sweep();
    expect(await stuckReason(id)).not.toBeNull();
    const at = new Date().toISOString();
    const outcome: JobEventMessage = {
      eventId: jobEventId(id, 1, 'succeeded', 2),
      jobId: id,
      type: 'succeeded',
      attempt: 1,
      delivery: 2,
      workerId: 'worker-new',
      at,
      startedAt: at,
      outputs: [
        {
          name: 'default',
          key: `outputs/${id}`,
          format: 'png',
          width: 1,
          height: 1,
          sizeBytes: 1,
        },
      ],
    };
    await broker.publisher.publish(
      MessageType.jobEvent,
      outcome.eventId,
      outcome,
    );
    const job = await waitFor(
      async () =>
        (await jobs.findById(id))?.status === 'succeeded'
          ? jobs.findById(id)
          : undefined,
      10_000,
      'the outcome',
    );
    expect(job).toMatchObject({ status: 'succeeded', stuckReason: null });
  });

  it('lets an operator run a flagged job again (its next attempt clears the flag); an unflagged running job stays refused', async () => {
    await heartbeat('worker-gone', 300, 0);
    const id = await processingJob(120, 'worker-gone');
    const actor = {
      apiKeyId: BOOTSTRAP_ADMIN_KEY_ID,
      requestId: 'sweeper-test',
    };
    const retry = {
      reason: 'retried by an operator',
      retryable: ['failed'] as const,
      alsoStuck: true,
      actor,
    };
    const publish = (
      job: Parameters<Parameters<JobsRepository['startNextAttempt']>[2]>[0],
    ) =>
      broker.publisher.publish(
        MessageType.imageJob,
        job.id,
        imageJobMessage(job, job.attempt),
      );
    await expect(jobs.startNextAttempt(id, retry, publish)).rejects.toThrow(
      `job ${id} is processing; only a failed job, or one flagged stuck, can be retried`,
    );
    await sweeper.sweep();
    await sweeper.sweep();
    expect(await stuckReason(id)).not.toBeNull();
    await expect(
      jobs.startNextAttempt(id, { ...retry, alsoStuck: false }, publish),
    ).rejects.toThrow(/only a failed job/);
    expect(await jobs.startNextAttempt(id, retry, publish)).toEqual({
      attempt: 2,
    });
    expect(await jobs.findById(id)).toMatchObject({
      status: 'queued',
      attempt: 2,
      stuckReason: null,
    });
    expect(
      (await jobMessages()).map((message) => [message.jobId, message.attempt]),
    ).toEqual([[id, 2]]);
  });

  it('flags nothing while a job message waits in a queue, or a live worker is busy, or the job changed between passes', async () => {
    await heartbeat('worker-gone', 300, 0);
    const id = await processingJob(120, 'worker-gone');
    // A message waits: the job may be behind it.
    await broker.publisher.publish(MessageType.imageJob, randomUUID(), {
      not: 'looked at',
    });
    await sweeper.sweep();
    await sweeper.sweep();
    expect(await stuckReason(id)).toBeNull();
    await broker.channel.purgeQueue(topology.jobsQueue);
    // A live worker is busy: it may hold the job's message.
    await heartbeat('worker-busy', 1, 1);
    await sweeper.sweep();
    await sweeper.sweep();
    expect(await stuckReason(id)).toBeNull();
    await heartbeat('worker-busy', 1, 0);
    // Quiet, but the job changed after the first pass judged it.
    await sweeper.sweep();
    await ageRows([id], 100);
    await sweeper.sweep();
    expect(await stuckReason(id)).toBeNull();
    await sweeper.sweep();
    expect(await stuckReason(id)).not.toBeNull();
  });

  it('names parked job messages in the reason', async () => {
    await heartbeat('worker-gone', 300, 0);
    const id = await processingJob(120, 'worker-gone');
    broker.channel.sendToQueue(
      topology.jobsDeadLetterQueue,
      Buffer.from('{}'),
      { persistent: true },
    );
    await waitFor(
      async () =>
        (await broker.channel.checkQueue(topology.jobsDeadLetterQueue))
          .messageCount === 1
          ? true
          : undefined,
      5000,
      'the parked message',
    );
    await sweeper.sweep();
    await sweeper.sweep();
    expect(await stuckReason(id)).toMatch(
      /; 1 job message\(s\) are parked in the dead-letter queue, perhaps its own\. Retry or cancel it\.$/,
    );
  });

  it('sweeps in one writer at a time: not while another holds the sweep lock', async () => {
    const other = await pool.connect();
    try {
      await other.query('SELECT pg_advisory_lock($1)', [SWEEP_LOCK_KEY]);
      const orphan = await queuedJob(120, false);
      await ageRows([orphan], 120);
      expect(await sweeper.sweep()).toBe(false);
      expect(await jobMessages()).toEqual([]);
      await other.query('SELECT pg_advisory_unlock($1)', [SWEEP_LOCK_KEY]);
      expect(await sweeper.sweep()).toBe(true);
      expect(
        await waitFor(
          async () => ((await jobMessages()).length === 1 ? true : undefined),
          5000,
          'the republished message',
        ),
      ).toBe(true);
    } finally {
      other.release();
    }
  });
});
