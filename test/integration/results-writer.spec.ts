import { NestFastifyApplication } from '@nestjs/platform-fastify';
import {
  JobEventMessage,
  jobEventId,
  MessageType,
  WorkerHeartbeatMessage,
} from '@pipeline/contracts';
import {
  BOOTSTRAP_ADMIN_KEY_ID,
  JobsRepository,
  WorkersRepository,
} from '@pipeline/database';
import { MessagePublisher, Topology } from '@pipeline/messaging';
import { loadConfig, WriterConfig } from '@pipeline/platform';
import { Channel } from 'amqplib';
import { randomUUID } from 'node:crypto';
import { Client, Pool } from 'pg';
import { startWriter } from '../../apps/results-writer/src/writer.app';
import { connectTestBroker, TestBroker } from '../support/broker';
import {
  AMQP_URL,
  createTestDatabase,
  DATABASE_PORT,
  deleteTopology,
  unackedMessages,
  uniqueName,
  waitFor,
} from '../support/resources';
import { PrometheusText } from '../support/prometheus-text';
import { TcpProxy } from '../support/tcp-proxy';

describe('Results writer (real RabbitMQ and PostgreSQL, in process)', () => {
  let database: { url: string; drop: () => Promise<void> };
  let proxy: TcpProxy;
  let writer: NestFastifyApplication;
  let pool: Pool;
  let jobs: JobsRepository;
  let topology: Topology;
  let broker: TestBroker;
  let publisher: MessagePublisher;
  let channel: Channel;

  beforeAll(async () => {
    database = await createTestDatabase();
    // The writer reaches PostgreSQL through a proxy the test can cut.
    proxy = new TcpProxy('127.0.0.1', DATABASE_PORT);
    await proxy.start();
    const viaProxy = new URL(database.url);
    viaProxy.port = String(proxy.port);
    const config = loadConfig(WriterConfig, {
      PORT: '0',
      LOG_LEVEL: 'error',
      HOST: '127.0.0.1',
      AMQP_URL,
      AMQP_PREFIX: uniqueName('writer'),
      AMQP_DELIVERY_LIMIT: '2',
      DATABASE_URL: viaProxy.toString(),
    });
    writer = await startWriter(config);
    topology = new Topology(config.AMQP_PREFIX, config.AMQP_DELIVERY_LIMIT);
    pool = new Pool({ connectionString: database.url });
    jobs = new JobsRepository(pool);
    broker = await connectTestBroker(topology);
    ({ publisher, channel } = broker);
  });

  afterAll(async () => {
    proxy.heal();
    await writer.close();
    await broker.close();
    await proxy.stop();
    await pool.end();
    await deleteTopology(topology);
    await database.drop();
  });

  async function newJob(): Promise<string> {
    const id = randomUUID();
    await jobs.insertQueued({
      id,
      apiKeyId: BOOTSTRAP_ADMIN_KEY_ID,
      source: { kind: 'images', path: 'a.jpg' },
      operations: [],
      output: {},
      createdAt: new Date(),
    });
    return id;
  }

  function succeeded(jobId: string, workerId = 'w1'): JobEventMessage {
    const at = new Date().toISOString();
    return {
      eventId: jobEventId(jobId, 1, 'succeeded', 1),
      jobId,
      type: 'succeeded',
      attempt: 1,
      delivery: 1,
      workerId,
      at,
      startedAt: at,
      outputs: [
        {
          name: 'default',
          key: `outputs/${jobId}`,
          format: 'png',
          width: 4,
          height: 3,
          sizeBytes: 99,
        },
      ],
    };
  }

  const parked = async () =>
    (await channel.checkQueue(topology.eventsDeadLetterQueue)).messageCount;

  it('records events into the job rows', async () => {
    const id = await newJob();
    await publisher.publish(
      MessageType.jobEvent,
      `${id}/outcome`,
      succeeded(id),
    );
    const job = await waitFor(
      async () =>
        (await jobs.findById(id))?.status === 'succeeded'
          ? jobs.findById(id)
          : undefined,
      10_000,
      'the outcome',
    );
    expect(job).toMatchObject({
      status: 'succeeded',
      deliveries: 1,
      workerId: 'w1',
      output: { format: 'png', width: 4, height: 3, sizeBytes: 99 },
    });
  });

  it('counts each ended attempt once, by its outcome: a repeated outcome is not counted again', async () => {
    const scrape = async () => {
      const text = new PrometheusText(
        await (await fetch(`${await writer.getUrl()}/metrics`)).text(),
      );
      return {
        succeeded: text.value('pipeline_jobs_finished_total', {
          outcome: 'succeeded',
        }),
        failed: text.value('pipeline_jobs_finished_total', {
          outcome: 'failed',
        }),
        eventsCommitted: text.value('pipeline_writer_batch_size_sum') ?? 0,
      };
    };
    const before = await scrape();
    // Both series are there before the first job ends.
    expect(typeof before.succeeded).toBe('number');
    expect(typeof before.failed).toBe('number');
    const ok = await newJob();
    const bad = await newJob();
    const at = new Date().toISOString();
    const failedEvent: JobEventMessage = {
      eventId: jobEventId(bad, 1, 'failed', 1),
      jobId: bad,
      type: 'failed',
      attempt: 1,
      delivery: 1,
      workerId: 'w1',
      at,
      startedAt: at,
      error: { code: 'INVALID_IMAGE', message: 'not an image' },
    };
    const statusOf = async (id: string) => (await jobs.findById(id))?.status;
    await publisher.publish(
      MessageType.jobEvent,
      `${ok}/outcome`,
      succeeded(ok),
    );
    await publisher.publish(
      MessageType.jobEvent,
      `${bad}/outcome`,
      failedEvent,
    );
    await waitFor(
      async () =>
        (await statusOf(ok)) === 'succeeded' &&
        (await statusOf(bad)) === 'failed'
          ? true
          : undefined,
      10_000,
      'both outcomes',
    );
    // The same outcome again, as after a redelivery: recorded as a repeat.
    await publisher.publish(
      MessageType.jobEvent,
      `${ok}/outcome`,
      succeeded(ok),
    );
    await waitFor(
      async () =>
        (await scrape()).eventsCommitted >= before.eventsCommitted + 3
          ? true
          : undefined,
      10_000,
      'the repeat to be handled',
    );
    const after = await scrape();
    expect({ succeeded: after.succeeded, failed: after.failed }).toEqual({
      succeeded: before.succeeded! + 1,
      failed: before.failed! + 1,
    });
  });

  it('keeps the workers table from heartbeats, ignoring an older one that arrives late', async () => {
    const beat = (
      at: string,
      extra: Partial<WorkerHeartbeatMessage> = {},
    ): WorkerHeartbeatMessage => ({
      workerId: 'w-beat',
      host: 'host-a',
      pid: 42,
      startedAt: '2026-01-01T00:00:00.000Z',
      at,
      jobsSucceeded: 3,
      jobsFailed: 1,
      inFlight: 2,
      stopping: false,
      ...extra,
    });
    await publisher.publish(
      MessageType.workerHeartbeat,
      'b1',
      beat('2026-01-01T00:00:10.000Z'),
    );
    await publisher.publish(
      MessageType.workerHeartbeat,
      'b2',
      beat('2026-01-01T00:00:20.000Z', {
        jobsSucceeded: 9,
        inFlight: 0,
        stopping: true,
      }),
    );
    await publisher.publish(
      MessageType.workerHeartbeat,
      'b0',
      beat('2026-01-01T00:00:05.000Z', { jobsSucceeded: 1 }),
    );
    const workers = new WorkersRepository(pool);
    const [worker] = await waitFor(
      async () => {
        const seen = await workers.seenSince(
          new Date('2026-01-01T00:00:00.000Z'),
        );
        return seen.length === 1 && seen[0].jobsSucceeded === 9
          ? seen
          : undefined;
      },
      10_000,
      'the latest heartbeat',
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(
      await workers.seenSince(new Date('2026-01-01T00:00:00.000Z')),
    ).toEqual([
      {
        ...worker,
        id: 'w-beat',
        host: 'host-a',
        pid: 42,
        lastSeenAt: '2026-01-01T00:00:20.000Z',
        jobsSucceeded: 9,
        jobsFailed: 1,
        inFlight: 0,
        stoppedAt: '2026-01-01T00:00:20.000Z',
      },
    ]);
  });

  it('parks an invalid event and an event the database refuses, and still records the rest of their batch', async () => {
    const before = await parked();
    const good = await Promise.all([newJob(), newJob()]);
    const refused = await newJob();
    await Promise.all([
      publisher.publish(MessageType.jobEvent, 'invalid', {
        eventId: 'x',
        type: 'exploded',
      }),
      // PostgreSQL text cannot hold a NUL character: valid to the contract,
      // refused by the database.
      publisher.publish(
        MessageType.jobEvent,
        'refused',
        succeeded(refused, 'worker\u0000nul'),
      ),
      ...good.map((id) =>
        publisher.publish(MessageType.jobEvent, `${id}/outcome`, succeeded(id)),
      ),
    ]);
    // The good events may come in a batch of their own, recorded after the two
    // are parked.
    const recorded = async () =>
      (await Promise.all(good.map((id) => jobs.findById(id)))).every(
        (job) => job?.status === 'succeeded',
      );
    await waitFor(
      async () =>
        (await parked()) === before + 2 && (await recorded())
          ? true
          : undefined,
      15_000,
      'two parked events and the rest recorded',
    );
    expect(await parked()).toBe(before + 2);
    expect((await jobs.findById(refused))?.status).toBe('queued');
  });

  it('holds events unacked while PostgreSQL is down, dead-letters nothing, and records them once it is back', async () => {
    const before = await parked();
    const id = await newJob();
    proxy.refuse();
    await publisher.publish(
      MessageType.jobEvent,
      `${id}/outcome`,
      succeeded(id),
    );
    // Several retries' worth of outage, past what the delivery limit (2) would
    // allow if it requeued.
    await new Promise((resolve) => setTimeout(resolve, 4000));
    expect((await jobs.findById(id))?.status).toBe('queued');
    expect(await parked()).toBe(before);
    const notReady = await fetch(`${await writer.getUrl()}/health/ready`);
    expect(notReady.status).toBe(503);
    // Which dependency is down, but not the driver's error text: the endpoint
    // is open to anyone.
    expect(await notReady.json()).toEqual({
      status: 'error',
      info: { rabbitmq: { status: 'up' }, consumers: { status: 'up' } },
      error: { postgres: { status: 'down' } },
      details: {
        rabbitmq: { status: 'up' },
        consumers: { status: 'up' },
        postgres: { status: 'down' },
      },
    });
    proxy.heal();
    await waitFor(
      async () =>
        (await jobs.findById(id))?.status === 'succeeded' ? true : undefined,
      20_000,
      'the event after the outage',
    );
    expect(await parked()).toBe(before);
  });

  it('holds events unacked while its database is read-only (as after a failover), parks none, and records each once when it is writable again', async () => {
    const before = await parked();
    const ids = await Promise.all([newJob(), newJob(), newJob()]);
    const name = new URL(database.url).pathname.slice(1);
    // Another database's session, so that the test's own statements never run
    // read-only.
    const admin = new Client({
      connectionString: new URL('/postgres', database.url).toString(),
    });
    await admin.connect();
    // The setting applies to new sessions: the writer's are ended, and it
    // connects again.
    const endWriterSessions = () =>
      admin.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'results-writer'",
        [name],
      );
    const unacked = () => unackedMessages(topology.eventsQueue);
    try {
      await admin.query(
        `ALTER DATABASE "${name}" SET default_transaction_read_only = on`,
      );
      try {
        await endWriterSessions();
        await Promise.all(
          ids.map((id) =>
            publisher.publish(
              MessageType.jobEvent,
              `${id}/outcome`,
              succeeded(id),
            ),
          ),
        );
        await waitFor(
          async () => ((await unacked()) === ids.length ? true : undefined),
          10_000,
          'the writer to hold the events',
        );
        // Several retries' worth of refusals, past what the delivery limit (2)
        // would allow if it requeued.
        await new Promise((resolve) => setTimeout(resolve, 3000));
        expect(await unacked()).toBe(ids.length);
        expect(await parked()).toBe(before);
        expect(
          (await Promise.all(ids.map((id) => jobs.findById(id)))).map(
            (job) => job?.status,
          ),
        ).toEqual(ids.map(() => 'queued'));
      } finally {
        await admin.query(
          `ALTER DATABASE "${name}" RESET default_transaction_read_only`,
        );
      }
      await endWriterSessions();
      const recorded = async () =>
        (await Promise.all(ids.map((id) => jobs.findById(id)))).every(
          (job) => job?.status === 'succeeded',
        );
      await waitFor(
        async () => ((await recorded()) ? true : undefined),
        30_000,
        'the events once the database is writable',
      );
      const { rows } = await pool.query<{ job_id: string; outcomes: number }>(
        "SELECT job_id, count(*)::int AS outcomes FROM job_events WHERE job_id = ANY($1) AND type = 'succeeded' GROUP BY job_id",
        [ids],
      );
      expect(rows.map((row) => row.outcomes)).toEqual(ids.map(() => 1));
      expect(await parked()).toBe(before);
      await waitFor(
        async () => ((await unacked()) === 0 ? true : undefined),
        10_000,
        'the events to be acked',
      );
    } finally {
      await admin.end();
    }
  });
});
