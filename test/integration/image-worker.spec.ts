import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { ImageJobMessage, JobEventMessage, MessageType } from '@pipeline/contracts';
import { MessagePublisher, Topology } from '@pipeline/messaging';
import { loadConfig, WorkerConfig } from '@pipeline/platform';
import { FilesystemBlobStorage, StorageKeys } from '@pipeline/storage';
import { Channel, connect } from 'amqplib';
import { randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { startWorker } from '../../apps/image-worker/src/worker.app';
import { connectTestBroker, TestBroker } from '../support/broker';
import { makeImage } from '../support/images';
import { AMQP_URL, deleteTopology, dropBrokerConnections, makeTempDir, uniqueName, waitFor } from '../support/resources';

describe('Image worker (real RabbitMQ, in process)', () => {
  let folder: { path: string; remove: () => Promise<void> };
  let topology: Topology;
  let channel: Channel;
  let storage: FilesystemBlobStorage;
  let worker: NestFastifyApplication | undefined;
  let publisher: MessagePublisher;
  let broker: TestBroker;
  let config: WorkerConfig;

  beforeAll(async () => {
    folder = await makeTempDir();
    await mkdir(join(folder.path, 'images'));
    await writeFile(join(folder.path, 'images', 'photo.jpg'), await makeImage(200, 100));
    storage = new FilesystemBlobStorage(join(folder.path, 'storage'));
    config = loadConfig(WorkerConfig, {
      PORT: '0',
      LOG_LEVEL: 'warn',
      HOST: '127.0.0.1',
      AMQP_URL,
      AMQP_PREFIX: uniqueName('worker'),
      STORAGE_DIR: join(folder.path, 'storage'),
      IMAGES_DIR: join(folder.path, 'images'),
      WORKER_ID: 'worker-under-test',
      STARTED_EVENT_AFTER_MS: '0',
    });
    topology = new Topology(config.AMQP_PREFIX, config.AMQP_DELIVERY_LIMIT);
    broker = await connectTestBroker(topology);
    ({ publisher, channel } = broker);
  });

  afterEach(async () => {
    await worker?.close();
    worker = undefined;
  });

  afterAll(async () => {
    await broker.close();
    await deleteTopology(topology);
    await folder.remove();
  });

  function job(overrides: Partial<ImageJobMessage> = {}): ImageJobMessage {
    return {
      jobId: randomUUID(),
      attempt: 1,
      source: { kind: 'images', path: 'photo.jpg' },
      operations: [{ op: 'resize', width: 50 }],
      output: { format: 'png' },
      submittedAt: new Date().toISOString(),
      ...overrides,
    };
  }

  async function eventsFor(jobId: string, count: number): Promise<JobEventMessage[]> {
    const seen: JobEventMessage[] = [];
    await waitFor(
      async () => {
        for (;;) {
          const message = await channel.get(topology.eventsQueue, { noAck: true });
          if (!message) break;
          const event = JSON.parse(message.content.toString()) as JobEventMessage;
          if (event.jobId === jobId) seen.push(event);
        }
        return seen.length >= count ? true : undefined;
      },
      15_000,
      `${count} events for ${jobId}`,
    );
    return seen;
  }

  it('processes a job: stores the output, then publishes started and the outcome, then acks', async () => {
    worker = await startWorker(config);
    const message = job();
    await publisher.publish(MessageType.imageJob, message.jobId, message);
    const [started, outcome] = await eventsFor(message.jobId, 2);
    expect(started).toMatchObject({ type: 'started', jobId: message.jobId, attempt: 1, delivery: 1, workerId: 'worker-under-test' });
    expect(outcome).toMatchObject({ type: 'succeeded', outputs: [{ name: 'default', key: StorageKeys.output(message.jobId), format: 'png', width: 50, height: 25 }] });
    const stored = await sharp(await storage.read(StorageKeys.output(message.jobId))).metadata();
    expect([stored.format, stored.width, stored.height]).toEqual(['png', 50, 25]);
    expect(outcome.outputs![0].sizeBytes).toBe((await storage.read(StorageKeys.output(message.jobId))).length);
    expect((await channel.checkQueue(topology.jobsQueue)).messageCount).toBe(0);
  });

  it('fails a job whose input is not an image, and parks nothing', async () => {
    await writeFile(join(folder.path, 'images', 'text.jpg'), 'this is not a jpeg');
    worker = await startWorker(config);
    const message = job({ source: { kind: 'images', path: 'text.jpg' } });
    await publisher.publish(MessageType.imageJob, message.jobId, message);
    const events = await eventsFor(message.jobId, 2);
    expect(events[1]).toMatchObject({ type: 'failed', error: { code: 'UNSUPPORTED_FORMAT' } });
    expect((await channel.checkQueue(topology.jobsDeadLetterQueue)).messageCount).toBe(0);
  });

  it('parks a malformed job message and fails the job it names', async () => {
    worker = await startWorker(config);
    const jobId = randomUUID();
    await publisher.publish(MessageType.imageJob, jobId, { jobId, attempt: 1, operations: [{ op: 'explode' }] });
    const [failed] = await eventsFor(jobId, 1);
    expect(failed).toMatchObject({ type: 'failed', error: { code: 'INVALID_MESSAGE', message: expect.stringContaining('explode') } });
    await waitFor(async () => ((await channel.checkQueue(topology.jobsDeadLetterQueue)).messageCount === 1 ? true : undefined), 10_000, 'the parked message');
    const parked = await channel.get(topology.jobsDeadLetterQueue, { noAck: true });
    expect(parked && parked.properties.messageId).toBe(jobId);
  });

  it('does not redo a redelivered job whose output an earlier delivery already stored', async () => {
    const message = job();
    // An earlier delivery stored its output, then died before acking: take the message and drop the channel.
    const marker = await sharp({ create: { width: 7, height: 5, channels: 3, background: '#ff0000' } }).png().toBuffer();
    await storage.put(StorageKeys.output(message.jobId), marker);
    await publisher.publish(MessageType.imageJob, message.jobId, message);
    const crashingWorker = await connect(AMQP_URL);
    const crashing = await crashingWorker.createChannel();
    const taken = await waitFor(async () => (await crashing.get(topology.jobsQueue, { noAck: false })) || undefined, 5000, 'the job');
    expect(taken.properties.messageId).toBe(message.jobId);
    await crashingWorker.close();

    worker = await startWorker(config);
    const [started, outcome] = await eventsFor(message.jobId, 2);
    expect(started).toMatchObject({ type: 'started', delivery: 2 });
    // The stored output stands: 7x5, not the 50x25 a new run would make.
    expect(outcome).toMatchObject({ type: 'succeeded', delivery: 2, outputs: [{ name: 'default', width: 7, height: 5, format: 'png', sizeBytes: marker.length }] });
    expect((await storage.read(StorageKeys.output(message.jobId))).equals(marker)).toBe(true);
  });

  it('reconnects after the broker drops its connection, and consumes again', async () => {
    worker = await startWorker(config);
    expect(dropBrokerConnections(`${config.AMQP_PREFIX} image-worker`)).toBe(1);
    const message = job();
    await publisher.publish(MessageType.imageJob, message.jobId, message);
    const events = await eventsFor(message.jobId, 2);
    expect(events[1]).toMatchObject({ type: 'succeeded' });
  });

  it('on shutdown finishes the job in flight before closing', async () => {
    await writeFile(join(folder.path, 'images', 'big.jpg'), await makeImage(2400, 1800));
    worker = await startWorker(config);
    const message = job({ source: { kind: 'images', path: 'big.jpg' }, operations: [{ op: 'blur', sigma: 30 }], output: { format: 'webp' } });
    await publisher.publish(MessageType.imageJob, message.jobId, message);
    const [started] = await eventsFor(message.jobId, 1);
    expect(started.type).toBe('started');
    await worker.close();
    worker = undefined;
    const rest = await eventsFor(message.jobId, 1);
    expect(rest[0]).toMatchObject({ type: 'succeeded' });
    const queue = await channel.checkQueue(topology.jobsQueue);
    expect(queue.messageCount).toBe(0);
  });
});
