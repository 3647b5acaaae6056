import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { MessageType } from '@pipeline/contracts';
import {
  AmqpConnection,
  BROKER_ROLES,
  BrokerRole,
  brokerPermissions,
  MessagePublisher,
  MissingTopologyError,
  Topology,
} from '@pipeline/messaging';
import { loadConfig, WorkerConfig, WriterConfig } from '@pipeline/platform';
import { Channel, ChannelModel, connect } from 'amqplib';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startWorker } from '../../apps/image-worker/src/worker.app';
import { startProducer } from '../../apps/producer/src/producer.app';
import { startWriter } from '../../apps/results-writer/src/writer.app';
import { adminFetch } from '../support/api-keys';
import { makeImage } from '../support/images';
import { producerTestConfig } from '../support/producer-config';
import {
  AMQP_URL,
  createTestDatabase,
  makeTempDir,
  rabbitmqctl,
  uniqueName,
  waitFor,
} from '../support/resources';

/**
 * Each app as a broker user of its own with the permissions of
 * brokerPermissions(), in a vhost of the test's own (made and removed with
 * rabbitmqctl): what each user may and may not do, and the pipeline running on
 * them, the producer declaring the topology and the others checking it.
 */
describe('Broker users with least permissions (real RabbitMQ)', () => {
  const vhost = uniqueName('vhost');
  const prefix = uniqueName('perm');
  const permissions = brokerPermissions(prefix);
  const topology = new Topology(prefix, 5, [100, 300]);
  const users = Object.fromEntries(
    BROKER_ROLES.map((role) => [
      role,
      { name: `${vhost}_${role}`, password: randomBytes(18).toString('hex') },
    ]),
  ) as Record<BrokerRole, { name: string; password: string }>;
  const opened: ChannelModel[] = [];

  /** AMQP_URL of the machine's broker, as `role` in the test's vhost. */
  function urlOf(role: BrokerRole): string {
    const url = new URL(AMQP_URL);
    url.username = users[role].name;
    url.password = users[role].password;
    url.pathname = `/${encodeURIComponent(vhost)}`;
    return url.toString();
  }

  async function connectAs(role: BrokerRole): Promise<ChannelModel> {
    const model = await connect(urlOf(role));
    model.on('error', () => undefined);
    opened.push(model);
    return model;
  }

  async function channelOf(model: ChannelModel): Promise<Channel> {
    const channel = await model.createChannel();
    channel.on('error', () => undefined);
    return channel;
  }

  /**
   * Runs `operation` on a new channel of `role` and resolves with the broker's
   * refusal, or 'allowed'.
   */
  async function attempt(
    role: BrokerRole,
    operation: (channel: Channel) => Promise<unknown>,
  ): Promise<string> {
    const model = await connectAs(role);
    const channel = await channelOf(model);
    try {
      await operation(channel);
      return 'allowed';
    } catch (error) {
      return /ACCESS_REFUSED/.test((error as Error).message)
        ? 'ACCESS_REFUSED'
        : (error as Error).message;
    } finally {
      await channel.close().catch(() => undefined);
    }
  }

  /** Publishes on a confirm channel of `role`: 'confirmed', or why not. */
  async function publishAs(
    role: BrokerRole,
    exchange: string,
    routingKey: string,
  ): Promise<string> {
    const model = await connectAs(role);
    const channel = await model.createConfirmChannel();
    channel.on('error', () => undefined);
    const closed = new Promise<string>((resolve) =>
      channel.once('close', () => resolve('channel closed')),
    );
    const confirmed = new Promise<string>((resolve) => {
      try {
        channel.publish(
          exchange,
          routingKey,
          Buffer.from('{}'),
          { persistent: true },
          (error: Error | null) =>
            resolve(error ? `nacked: ${error.message}` : 'confirmed'),
        );
      } catch (error) {
        resolve((error as Error).message);
      }
    });
    const errored = new Promise<string>((resolve) =>
      channel.once('error', (error: Error) =>
        resolve(
          /ACCESS_REFUSED/.test(error.message)
            ? 'ACCESS_REFUSED'
            : error.message,
        ),
      ),
    );
    const outcome = await Promise.race([confirmed, errored, closed]);
    await channel.close().catch(() => undefined);
    return outcome;
  }

  beforeAll(() => {
    rabbitmqctl(['add_vhost', vhost]);
    // The test's own look at the queues, as the broker's administrator.
    rabbitmqctl([
      'set_permissions',
      '-p',
      vhost,
      new URL(AMQP_URL).username || 'guest',
      '.*',
      '.*',
      '.*',
    ]);
    for (const role of BROKER_ROLES) {
      rabbitmqctl(['add_user', users[role].name, users[role].password]);
      const { configure, write, read } = permissions[role];
      rabbitmqctl([
        'set_permissions',
        '-p',
        vhost,
        users[role].name,
        configure,
        write,
        read,
      ]);
    }
  });

  afterAll(async () => {
    for (const model of opened) await model.close().catch(() => undefined);
    for (const role of BROKER_ROLES)
      rabbitmqctl(['delete_user', users[role].name]);
    rabbitmqctl(['delete_vhost', vhost]);
  });

  it('refuses the worker and the writer the declaration of the topology, and lets the producer declare it', async () => {
    for (const role of ['worker', 'writer'] as const) {
      const model = await connectAs(role);
      await expect(topology.declare(model)).rejects.toThrow(/ACCESS_REFUSED/);
    }
    await topology.declare(await connectAs('producer'));
    await topology.declare(await connectAs('producer'));
  });

  it('tells an app that only checks the topology what is missing, by name, until it is declared', async () => {
    const other = new Topology(uniqueName('missing'), 5, [100]);
    const model = await connectAs('worker');
    await expect(other.check(model)).rejects.toThrow(MissingTopologyError);
    await expect(other.check(model)).rejects.toThrow(
      `RabbitMQ has no exchange ${other.exchange} in vhost ${vhost}`,
    );
    const admin = await connect(
      AMQP_URL.replace(/\/?$/, `/${encodeURIComponent(vhost)}`),
    );
    opened.push(admin);
    const channel = await admin.createChannel();
    await channel.assertExchange(other.exchange, 'direct', {
      durable: false,
      autoDelete: false,
    });
    await channel.assertExchange(other.deadLetterExchange, 'direct', {
      durable: false,
      autoDelete: false,
    });
    await expect(other.check(model)).rejects.toThrow(
      `RabbitMQ has no queue ${other.jobsQueue} in vhost ${vhost}`,
    );
    await channel.deleteExchange(other.exchange);
    await channel.deleteExchange(other.deadLetterExchange);
    // The whole topology of the test exists (the producer declared it): every
    // user may check it.
    for (const role of BROKER_ROLES)
      await topology.check(await connectAs(role));
  });

  it('lets the worker consume jobs, publish events, retries and handed-back jobs, and nothing more', async () => {
    expect(
      await publishAs('worker', topology.exchange, MessageType.jobEvent),
    ).toBe('confirmed');
    expect(
      await publishAs('worker', topology.exchange, MessageType.workerHeartbeat),
    ).toBe('confirmed');
    expect(await publishAs('worker', '', topology.jobRetryTiers[0].queue)).toBe(
      'confirmed',
    );
    // A job it held but did not start goes back to the jobs queue by name.
    expect(await publishAs('worker', '', topology.jobsQueue)).toBe('confirmed');
    expect(
      await attempt('worker', (channel) =>
        channel.consume(topology.jobsQueue, () => undefined),
      ),
    ).toBe('allowed');

    expect(
      await attempt('worker', (channel) =>
        channel.assertQueue(`${prefix}.other`, { durable: true }),
      ),
    ).toBe('ACCESS_REFUSED');
    expect(
      await attempt('worker', (channel) =>
        channel.assertQueue(topology.jobsQueue, {
          durable: true,
          arguments: { 'x-queue-type': 'quorum' },
        }),
      ),
    ).toBe('ACCESS_REFUSED');
    expect(
      await attempt('worker', (channel) =>
        channel.deleteQueue(topology.eventsQueue),
      ),
    ).toBe('ACCESS_REFUSED');
    expect(
      await attempt('worker', (channel) =>
        channel.deleteQueue(topology.jobsQueue),
      ),
    ).toBe('ACCESS_REFUSED');
    expect(
      await attempt('worker', (channel) =>
        channel.purgeQueue(topology.jobsDeadLetterQueue),
      ),
    ).toBe('ACCESS_REFUSED');
    expect(
      await attempt('worker', (channel) =>
        channel.consume(topology.eventsQueue, () => undefined),
      ),
    ).toBe('ACCESS_REFUSED');
    expect(
      await attempt('worker', (channel) =>
        channel.get(topology.jobsDeadLetterQueue),
      ),
    ).toBe('ACCESS_REFUSED');
    expect(
      await attempt('worker', (channel) =>
        channel.deleteExchange(topology.exchange),
      ),
    ).toBe('ACCESS_REFUSED');
    expect(
      await attempt('worker', (channel) =>
        channel.bindQueue(topology.jobsQueue, topology.exchange, 'elsewhere'),
      ),
    ).toBe('ACCESS_REFUSED');
    expect(
      await publishAs(
        'worker',
        topology.deadLetterExchange,
        topology.jobsDeadLetterQueue,
      ),
    ).toBe('ACCESS_REFUSED');
  });

  it('lets the writer consume events and publish to the exchange (the sweeper), nothing more', async () => {
    expect(
      await attempt('writer', (channel) =>
        channel.consume(topology.eventsQueue, () => undefined),
      ),
    ).toBe('allowed');
    expect(
      await publishAs('writer', topology.exchange, MessageType.imageJob),
    ).toBe('confirmed');

    expect(
      await attempt('writer', (channel) =>
        channel.consume(topology.jobsQueue, () => undefined),
      ),
    ).toBe('ACCESS_REFUSED');
    expect(
      await attempt('writer', (channel) =>
        channel.assertQueue(`${prefix}.other`, { durable: true }),
      ),
    ).toBe('ACCESS_REFUSED');
    expect(
      await attempt('writer', (channel) =>
        channel.deleteQueue(topology.eventsQueue),
      ),
    ).toBe('ACCESS_REFUSED');
    expect(
      await attempt('writer', (channel) =>
        channel.get(topology.eventsDeadLetterQueue),
      ),
    ).toBe('ACCESS_REFUSED');
    expect(await publishAs('writer', '', topology.jobsQueue)).toBe(
      'ACCESS_REFUSED',
    );
  });

  it("lets the producer publish jobs and go through the dead-letter queues, but not touch what is not the pipeline's", async () => {
    expect(
      await publishAs('producer', topology.exchange, MessageType.imageJob),
    ).toBe('confirmed');
    expect(
      await attempt('producer', (channel) =>
        channel.get(topology.jobsDeadLetterQueue),
      ),
    ).toBe('allowed');
    expect(
      await attempt('producer', (channel) =>
        channel.get(topology.eventsDeadLetterQueue),
      ),
    ).toBe('allowed');
    expect(
      await attempt('producer', (channel) =>
        channel.assertQueue(uniqueName('foreign'), { durable: true }),
      ),
    ).toBe('ACCESS_REFUSED');
    expect(await publishAs('producer', '', topology.jobsQueue)).toBe(
      'ACCESS_REFUSED',
    );
    // The messages the publishes above left behind, as the broker's
    // administrator.
    const admin = await connect(
      AMQP_URL.replace(/\/?$/, `/${encodeURIComponent(vhost)}`),
    );
    opened.push(admin);
    const channel = await admin.createChannel();
    for (const queue of topology.queues) await channel.purgeQueue(queue);
  });

  it('runs a job end to end: the producer declaring the topology, the worker and the writer only checking it, each as its own user', async () => {
    const database = await createTestDatabase();
    const folder = await makeTempDir();
    const apps: NestFastifyApplication[] = [];
    try {
      const storageDir = join(folder.path, 'storage');
      const imagesDir = join(folder.path, 'images');
      await mkdir(imagesDir, { recursive: true });
      await writeFile(join(imagesDir, 'photo.jpg'), await makeImage(120, 80));
      const shared = {
        AMQP_PREFIX: prefix,
        RETRY_DELAYS_MS: '100,300',
        STORAGE_DIR: storageDir,
        IMAGES_DIR: imagesDir,
        LOG_LEVEL: 'error',
        PORT: '0',
        HOST: '127.0.0.1',
      };
      // Worker and writer first: they wait for nothing, the topology is there
      // (declared above).
      apps.push(
        await startWorker(
          loadConfig(WorkerConfig, {
            ...shared,
            AMQP_URL: urlOf('worker'),
            AMQP_TOPOLOGY: 'check',
            STARTED_EVENT_AFTER_MS: '0',
          }),
        ),
      );
      apps.push(
        await startWriter(
          loadConfig(WriterConfig, {
            ...shared,
            AMQP_URL: urlOf('writer'),
            AMQP_TOPOLOGY: 'check',
            DATABASE_URL: database.url,
          }),
        ),
      );
      const producer = await startProducer(
        producerTestConfig({
          ...shared,
          AMQP_URL: urlOf('producer'),
          AMQP_TOPOLOGY: 'declare',
          DATABASE_URL: database.url,
        }),
      );
      apps.push(producer);
      const base = await producer.getUrl();
      const submitted = await adminFetch(`${base}/v1/jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          source: { path: 'photo.jpg' },
          operations: [{ op: 'resize', width: 30 }],
          output: { format: 'png' },
        }),
      });
      expect(submitted.status).toBe(202);
      const { id } = (await submitted.json()) as { id: string };
      const job = await waitFor(
        async () => {
          const body = (await (
            await adminFetch(`${base}/v1/jobs/${id}`)
          ).json()) as { status: string; output: { width: number } | null };
          return body.status === 'succeeded' || body.status === 'failed'
            ? body
            : undefined;
        },
        30_000,
        'the job to finish',
      );
      expect(job).toMatchObject({ status: 'succeeded', output: { width: 30 } });
      // The producer's operator view works under its user: queue depths are
      // passive declarations.
      const stats = (await (await adminFetch(`${base}/v1/stats`)).json()) as {
        queues: {
          jobs: { consumers: number };
          events: { consumers: number };
        } | null;
      };
      expect(stats.queues).toMatchObject({
        jobs: { consumers: 1 },
        events: { consumers: 1 },
      });
      for (const app of apps)
        expect(app.get(AmqpConnection).isConnected).toBe(true);
      expect(apps[0].get(MessagePublisher).isReady).toBe(true);
    } finally {
      for (const app of apps.reverse()) await app.close();
      await folder.remove();
      await database.drop();
    }
  }, 60_000);
});
