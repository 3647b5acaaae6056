import { NestFastifyApplication } from '@nestjs/platform-fastify';
import {
  ImageJobMessage,
  JobEventMessage,
  MessageType,
} from '@pipeline/contracts';
import { MessagePublisher, Topology } from '@pipeline/messaging';
import { loadConfig, WorkerConfig } from '@pipeline/platform';
import {
  FilesystemBlobStorage,
  sha256Hex,
  StorageKeys,
} from '@pipeline/storage';
import { Channel, connect } from 'amqplib';
import { randomUUID } from 'node:crypto';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { createServer, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { startWorker } from '../../apps/image-worker/src/worker.app';
import { connectTestBroker, TestBroker } from '../support/broker';
import { makeImage } from '../support/images';
import {
  AMQP_URL,
  deleteTopology,
  dropBrokerConnections,
  makeTempDir,
  uniqueName,
  waitFor,
} from '../support/resources';

describe('Image worker (real RabbitMQ, in process)', () => {
  let folder: { path: string; remove: () => Promise<void> };
  let topology: Topology;
  let channel: Channel;
  let storage: FilesystemBlobStorage;
  let worker: NestFastifyApplication | undefined;
  let publisher: MessagePublisher;
  let broker: TestBroker;
  let config: WorkerConfig;
  let configEnv: Record<string, string>;

  beforeAll(async () => {
    folder = await makeTempDir();
    await mkdir(join(folder.path, 'images'));
    await writeFile(
      join(folder.path, 'images', 'photo.jpg'),
      await makeImage(200, 100),
    );
    storage = new FilesystemBlobStorage(join(folder.path, 'storage'));
    configEnv = {
      PORT: '0',
      LOG_LEVEL: 'warn',
      HOST: '127.0.0.1',
      AMQP_URL,
      AMQP_PREFIX: uniqueName('worker'),
      STORAGE_DIR: join(folder.path, 'storage'),
      IMAGES_DIR: join(folder.path, 'images'),
      WORKER_ID: 'worker-under-test',
      STARTED_EVENT_AFTER_MS: '0',
      RETRY_DELAYS_MS: '100,300',
      MAX_TRIES: '3',
    };
    config = loadConfig(WorkerConfig, configEnv);
    topology = new Topology(
      config.AMQP_PREFIX,
      config.AMQP_DELIVERY_LIMIT,
      [100, 300],
    );
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

  /**
   * Events for the job until `enough` says so (by default: `count` of them).
   */
  async function eventsFor(
    jobId: string,
    count: number,
    enough = (seen: JobEventMessage[]) => seen.length >= count,
  ): Promise<JobEventMessage[]> {
    const seen: JobEventMessage[] = [];
    await waitFor(
      async () => {
        for (;;) {
          const message = await channel.get(topology.eventsQueue, {
            noAck: true,
          });
          if (!message) break;
          const event = JSON.parse(
            message.content.toString(),
          ) as JobEventMessage;
          if (event.jobId === jobId) seen.push(event);
        }
        return enough(seen) ? true : undefined;
      },
      15_000,
      `${count} events for ${jobId}`,
    );
    return seen;
  }

  /**
   * The job's outcome; a job that fails at once has no separate started event.
   */
  async function outcomeOf(jobId: string): Promise<JobEventMessage> {
    const isOutcome = (event: JobEventMessage) =>
      event.type === 'succeeded' || event.type === 'failed';
    const events = await eventsFor(jobId, 1, (seen) => seen.some(isOutcome));
    return events.find(isOutcome)!;
  }

  const sleep = (ms: number) =>
    new Promise((resolve) => setTimeout(resolve, ms));

  /**
   * Runs `message` on a worker with JOB_TIMEOUT_S=3 and checks that it fails
   * with PROCESSING_TIMEOUT between 3 and 3.3 s after it started (as its failed
   * event says), on its first delivery, without a retry or a parked message,
   * and that the worker's CPU is quiet afterwards (the worker runs in this
   * process: libvips' threads count in its CPU time).
   */
  async function expectStoppedAtTheDeadline(
    message: ImageJobMessage,
    env: Record<string, string> = {},
  ): Promise<void> {
    worker = await startWorker(
      loadConfig(WorkerConfig, { ...configEnv, ...env, JOB_TIMEOUT_S: '3' }),
    );
    const parkedBefore = (
      await channel.checkQueue(topology.jobsDeadLetterQueue)
    ).messageCount;
    await publisher.publish(MessageType.imageJob, message.jobId, message);
    const isOutcome = (event: JobEventMessage) =>
      event.type === 'succeeded' || event.type === 'failed';
    const events = await eventsFor(message.jobId, 1, (seen) =>
      seen.some(isOutcome),
    );
    const outcome = events.find(isOutcome)!;
    expect(outcome).toMatchObject({
      type: 'failed',
      delivery: 1,
      error: { code: 'PROCESSING_TIMEOUT' },
    });
    expect(outcome.error?.message).toContain("the job's time limit of 3 s");
    expect(events.map((event) => event.type)).not.toContain('retrying');
    const tookMs = Date.parse(outcome.at) - Date.parse(outcome.startedAt!);
    // Both timestamps and the timer count whole milliseconds: either may be a
    // millisecond short.
    expect(tookMs).toBeGreaterThanOrEqual(2998);
    expect(tookMs).toBeLessThanOrEqual(3300);
    // libvips stops what the deadline cut short within a second of it (sharp's
    // timeout counts whole seconds).
    await sleep(1200);
    const cpuBefore = process.cpuUsage();
    const wallBefore = performance.now();
    await sleep(1000);
    const cpu = process.cpuUsage(cpuBefore);
    expect(
      (cpu.user + cpu.system) / 1000 / (performance.now() - wallBefore),
    ).toBeLessThan(0.2);
    expect((await channel.checkQueue(topology.jobsQueue)).messageCount).toBe(0);
    for (const tier of topology.jobRetryTiers)
      expect((await channel.checkQueue(tier.queue)).messageCount).toBe(0);
    expect(
      (await channel.checkQueue(topology.jobsDeadLetterQueue)).messageCount,
    ).toBe(parkedBefore);
  }

  describe('JOB_TIMEOUT_S is one deadline for the whole job', () => {
    beforeAll(async () => {
      const large = await sharp({
        create: {
          width: 6000,
          height: 6000,
          channels: 3,
          background: '#345678',
        },
      })
        .png({ compressionLevel: 1 })
        .toBuffer();
      await writeFile(join(folder.path, 'images', 'large.png'), large);
    });

    it('stops 32 large text watermarks in each of 8 variants at the deadline, as PROCESSING_TIMEOUT, not retried', async () => {
      // About 5000×2600 px of text each: under the text-layer limit, and under
      // the image's size.
      const watermarks = Array.from({ length: 32 }, () => ({
        op: 'watermark' as const,
        text: 'WWWWWWWWWW\n'.repeat(4).trim(),
        size: 512,
        opacity: 0.3,
      }));
      const variants = Array.from({ length: 8 }, (_, index) => ({
        name: `v${index}`,
        operations: watermarks,
        output: { format: 'jpeg' as const },
      }));
      await expectStoppedAtTheDeadline(
        job({
          source: { kind: 'images', path: 'large.png' },
          operations: [],
          output: {},
          variants,
        }),
      );
    });

    it('stops 32 heavy blurs on a large image, each its own stage and each well under the limit, at the deadline', async () => {
      const blurs = Array.from({ length: 32 }, (_, index) => ({
        op: 'blur' as const,
        sigma: 30 + index,
      }));
      await expectStoppedAtTheDeadline(
        job({
          source: { kind: 'images', path: 'large.png' },
          operations: blurs,
          output: { format: 'jpeg' },
        }),
      );
    });
  });

  it('holds WORKER_PREFETCH messages but processes WORKER_CONCURRENCY jobs at once; a waiting job starts its clock when its turn comes', async () => {
    await writeFile(
      join(folder.path, 'images', 'medium.png'),
      await sharp({
        create: {
          width: 1500,
          height: 1500,
          channels: 3,
          background: '#345678',
        },
      })
        .png({ compressionLevel: 1 })
        .toBuffer(),
    );
    worker = await startWorker(
      loadConfig(WorkerConfig, {
        ...configEnv,
        WORKER_PREFETCH: '4',
        WORKER_CONCURRENCY: '1',
      }),
    );
    const blur = [{ op: 'blur' as const, sigma: 20 }];
    const messages = Array.from({ length: 3 }, () =>
      job({
        source: { kind: 'images', path: 'medium.png' },
        operations: blur,
        output: { format: 'jpeg' },
      }),
    );
    for (const message of messages)
      await publisher.publish(MessageType.imageJob, message.jobId, message);
    const ids = new Set(messages.map((message) => message.jobId));
    const outcomes: JobEventMessage[] = [];
    await waitFor(
      async () => {
        for (
          let message = await channel.get(topology.eventsQueue, {
            noAck: true,
          });
          message;
          message = await channel.get(topology.eventsQueue, { noAck: true })
        ) {
          const event = JSON.parse(
            message.content.toString(),
          ) as JobEventMessage;
          if (
            ids.has(event.jobId) &&
            (event.type === 'succeeded' || event.type === 'failed')
          )
            outcomes.push(event);
        }
        return outcomes.length === messages.length ? true : undefined;
      },
      15_000,
      'the outcomes of the three jobs',
    );
    expect(outcomes.map((outcome) => outcome.type)).toEqual([
      'succeeded',
      'succeeded',
      'succeeded',
    ]);
    const runs = outcomes
      .map((outcome) => ({
        from: Date.parse(outcome.startedAt!),
        to: Date.parse(outcome.at),
      }))
      .sort((a, b) => a.from - b.from);
    // One at a time: each started once the one before had finished.
    for (let i = 1; i < runs.length; i++)
      expect(runs[i].from).toBeGreaterThanOrEqual(runs[i - 1].to);
  });

  it('processes a job: stores the output, then publishes started and the outcome, then acks', async () => {
    worker = await startWorker(config);
    const message = job();
    await publisher.publish(MessageType.imageJob, message.jobId, message);
    const [started, outcome] = await eventsFor(message.jobId, 2);
    expect(started).toMatchObject({
      type: 'started',
      jobId: message.jobId,
      attempt: 1,
      delivery: 1,
      workerId: 'worker-under-test',
    });
    const key = StorageKeys.output(message.jobId, 1, 'default');
    expect(outcome).toMatchObject({
      type: 'succeeded',
      outputs: [{ name: 'default', key, format: 'png', width: 50, height: 25 }],
    });
    const stored = await sharp(await storage.read(key)).metadata();
    expect([stored.format, stored.width, stored.height]).toEqual([
      'png',
      50,
      25,
    ]);
    expect(outcome.outputs![0].sizeBytes).toBe(
      (await storage.read(key)).length,
    );
    expect((await channel.checkQueue(topology.jobsQueue)).messageCount).toBe(0);
  });

  it('makes every variant of a job from one input and stores each under its name', async () => {
    worker = await startWorker(config);
    const message = job({
      operations: [{ op: 'flop' }],
      variants: [
        {
          name: 'small',
          operations: [{ op: 'resize', width: 20 }],
          output: { format: 'webp' },
        },
        {
          name: 'grey',
          operations: [{ op: 'grayscale' }],
          output: { format: 'png' },
        },
      ],
    });
    await publisher.publish(MessageType.imageJob, message.jobId, message);
    const [, outcome] = await eventsFor(message.jobId, 2);
    expect(outcome).toMatchObject({
      type: 'succeeded',
      outputs: [
        {
          name: 'small',
          key: StorageKeys.output(message.jobId, 1, 'small'),
          format: 'webp',
          width: 20,
          height: 10,
        },
        {
          name: 'grey',
          key: StorageKeys.output(message.jobId, 1, 'grey'),
          format: 'png',
          width: 200,
          height: 100,
        },
      ],
    });
    for (const output of outcome.outputs!) {
      const stored = await storage.read(output.key);
      expect(stored.length).toBe(output.sizeBytes);
      expect((await sharp(stored).metadata()).format).toBe(output.format);
    }
  });

  describe('URL sources (a local HTTP server on 127.0.0.1)', () => {
    let server: Server;
    let origin: string;
    let requests = 0;
    const flaky = new Map<string, number>();
    const changing = new Map<string, number>();
    /** Runs before the third answer on a `/twice-then-*` path. */
    let beforeThirdAnswer: () => Promise<unknown> = () => Promise.resolve();
    const stalled: ServerResponse[] = [];
    const sourceFiles = async () =>
      (await readdir(tmpdir())).filter((name) =>
        name.startsWith('image-source-'),
      );

    beforeAll(async () => {
      const png = await makeImage(80, 60, 'png');
      const wide = await makeImage(120, 30, 'png');
      const tiny = await makeImage(1, 1, 'png');
      server = createServer((request, response) => {
        requests++;
        if (request.url === '/photo.png')
          response.writeHead(200, { 'content-type': 'image/png' }).end(png);
        else if (request.url === '/tiny.png')
          response.writeHead(200, { 'content-type': 'image/png' }).end(tiny);
        else if (request.url?.startsWith('/flaky/')) {
          // Unavailable for the first two requests of each path, then fine.
          const count = (flaky.get(request.url) ?? 0) + 1;
          flaky.set(request.url, count);
          if (count <= 2) response.writeHead(503).end();
          else
            response.writeHead(200, { 'content-type': 'image/png' }).end(png);
        } else if (request.url?.startsWith('/changing/')) {
          // The image behind the URL changes between requests: 80x60 first,
          // 120x30 afterwards.
          const count = (changing.get(request.url) ?? 0) + 1;
          changing.set(request.url, count);
          response
            .writeHead(200, { 'content-type': 'image/png' })
            .end(count === 1 ? png : wide);
        } else if (request.url?.startsWith('/twice-then-')) {
          // Unavailable twice; the third answer (after `beforeThirdAnswer`) and
          // later ones are the image or, for `-down`, 503.
          const count = (flaky.get(request.url) ?? 0) + 1;
          flaky.set(request.url, count);
          void (count === 3 ? beforeThirdAnswer() : Promise.resolve()).then(
            () => {
              if (count <= 2 || request.url!.startsWith('/twice-then-down/'))
                response.writeHead(503).end();
              else
                response
                  .writeHead(200, { 'content-type': 'image/png' })
                  .end(png);
            },
          );
        } else if (request.url === '/down') response.writeHead(503).end();
        else if (request.url === '/stalled') {
          // Headers and a first few bytes, then nothing more, ever.
          stalled.push(response);
          response
            .writeHead(200, { 'content-type': 'image/png' })
            .write(png.subarray(0, 16));
        } else if (request.url === '/moved')
          response.writeHead(302, { location: '/photo.png' }).end();
        else if (request.url === '/to-metadata')
          response
            .writeHead(302, {
              location: 'http://169.254.169.254/latest/meta-data/',
            })
            .end();
        else response.writeHead(404).end();
      });
      await new Promise<void>((resolve) =>
        server.listen(0, '127.0.0.1', resolve),
      );
      origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });

    afterAll(async () => {
      for (const response of stalled) response.destroy();
      await new Promise((resolve) => server.close(resolve));
    });

    // The server's port is one the system picked: the workers are told to allow
    // it.
    const withAllowlist = (allowlist: string) =>
      loadConfig(WorkerConfig, {
        ...configEnv,
        SOURCE_URL_ALLOWLIST: allowlist,
        SOURCE_URL_PORTS: `80,443,${new URL(origin).port}`,
      });

    it('refuses a port SOURCE_URL_PORTS does not list (80 and 443 by default) for good, before connecting', async () => {
      worker = await startWorker(
        loadConfig(WorkerConfig, {
          ...configEnv,
          SOURCE_URL_ALLOWLIST: '127.0.0.1/32',
        }),
      );
      const seen = requests;
      const message = job({
        source: { kind: 'url', url: `${origin}/photo.png` },
      });
      await publisher.publish(MessageType.imageJob, message.jobId, message);
      const outcome = await outcomeOf(message.jobId);
      expect(outcome).toMatchObject({
        type: 'failed',
        delivery: 1,
        error: {
          code: 'SOURCE_REFUSED',
          message: `refused ${origin}: port ${new URL(origin).port} is not one of SOURCE_URL_PORTS (80,443)`,
        },
      });
      expect(requests).toBe(seen);
    });

    it("ends a download that stalls at the job's deadline (before the fetcher's own limit) as PROCESSING_TIMEOUT, leaving no temporary file", async () => {
      const before = await sourceFiles();
      await expectStoppedAtTheDeadline(
        job({ source: { kind: 'url', url: `${origin}/stalled` } }),
        {
          SOURCE_URL_ALLOWLIST: '127.0.0.1/32',
          SOURCE_URL_PORTS: `80,443,${new URL(origin).port}`,
          SOURCE_URL_TIMEOUT_MS: '20000',
        },
      );
      expect(stalled.length).toBe(1);
      expect(await sourceFiles()).toEqual(before);
    });

    it('downloads the source when the allowlist names the address, following a redirect, and leaves no temporary file', async () => {
      const before = await sourceFiles();
      worker = await startWorker(withAllowlist('127.0.0.1/32'));
      const message = job({ source: { kind: 'url', url: `${origin}/moved` } });
      await publisher.publish(MessageType.imageJob, message.jobId, message);
      const outcome = await outcomeOf(message.jobId);
      expect(outcome).toMatchObject({
        type: 'succeeded',
        outputs: [{ name: 'default', format: 'png', width: 50, height: 38 }],
      });
      expect(await sourceFiles()).toEqual(before);
    });

    it('keeps the output a first run of the attempt stored when the same attempt runs again on a changed source, and reports the stored one', async () => {
      worker = await startWorker(withAllowlist('127.0.0.1/32'));
      const path = `/changing/${randomUUID()}`;
      const message = job({ source: { kind: 'url', url: `${origin}${path}` } });
      await publisher.publish(MessageType.imageJob, message.jobId, message);
      const first = await outcomeOf(message.jobId);
      expect(first).toMatchObject({
        type: 'succeeded',
        outputs: [{ name: 'default', width: 50, height: 38 }],
      });
      const firstBytes = await storage.read(first.outputs![0].key);

      // The same attempt published again (a republish, or a redelivery racing
      // the first run): the source now gives 120x30.
      await publisher.publish(MessageType.imageJob, message.jobId, message);
      const second = await outcomeOf(message.jobId);
      expect(changing.get(path)).toBe(2);
      const stored = await storage.read(second.outputs![0].key);
      expect(stored.equals(firstBytes)).toBe(true);
      const { width, height, format } = await sharp(stored).metadata();
      expect(second.outputs).toEqual([
        {
          name: 'default',
          key: first.outputs![0].key,
          format,
          width,
          height,
          sizeBytes: stored.length,
          sha256: sha256Hex(stored),
        },
      ]);
      expect(second.outputs).toEqual(first.outputs);
    });

    it('fails a job whose operations would blow a tiny source up past MAX_OUTPUT_PIXELS at once, for good, from its header', async () => {
      worker = await startWorker(withAllowlist('127.0.0.1/32'));
      // 1×1 → 16384×16384, padded to 49152×49152, then flipped: a stage of 7 GB
      // of pixels, were it run.
      const message = job({
        source: { kind: 'url', url: `${origin}/tiny.png` },
        operations: [
          { op: 'resize', width: 16384, height: 16384, fit: 'fill' },
          {
            op: 'extend',
            top: 16384,
            bottom: 16384,
            left: 16384,
            right: 16384,
          },
          { op: 'flip' },
        ],
      });
      // This process is the worker, and the test runner too, which holds
      // hundreds of MiB after the suites before this one: what the job adds to
      // its resident memory is the worker's part.
      const baselineRss = process.memoryUsage().rss;
      let peakRss = baselineRss;
      const sampler = setInterval(
        () => (peakRss = Math.max(peakRss, process.memoryUsage().rss)),
        10,
      );
      const started = performance.now();
      try {
        await publisher.publish(MessageType.imageJob, message.jobId, message);
        const events = await eventsFor(message.jobId, 0, (seen) =>
          seen.some(
            (event) => event.type === 'failed' || event.type === 'succeeded',
          ),
        );
        expect(performance.now() - started).toBeLessThan(5000);
        expect(
          events
            .map((event) => event.type)
            .filter((type) => type !== 'started'),
        ).toEqual(['failed']);
        expect(events.find((event) => event.type === 'failed')).toMatchObject({
          delivery: 1,
          error: {
            code: 'IMAGE_TOO_LARGE',
            message:
              'The operations would make too large an image: operations[0] (resize) would make a 16384×16384 image (268435456 pixels); the limit is 50000000 (MAX_OUTPUT_PIXELS)',
          },
        });
      } finally {
        clearInterval(sampler);
      }
      expect(peakRss - baselineRss).toBeLessThan(256 * 1024 ** 2);
      await waitFor(
        async () =>
          (await channel.checkQueue(topology.jobsQueue)).messageCount === 0
            ? true
            : undefined,
        5000,
        'the jobs queue to drain',
      );
      for (const tier of topology.jobRetryTiers)
        expect((await channel.checkQueue(tier.queue)).messageCount).toBe(0);
    });

    it('retries a transient failure through the delay queues, recording each try, until it succeeds', async () => {
      worker = await startWorker(withAllowlist('127.0.0.1/32'));
      const message = job({
        source: { kind: 'url', url: `${origin}/flaky/${randomUUID()}` },
      });
      await publisher.publish(MessageType.imageJob, message.jobId, message);
      const events = await eventsFor(message.jobId, 0, (seen) =>
        seen.some(
          (event) => event.type === 'succeeded' || event.type === 'failed',
        ),
      );
      const tries = events.filter((event) => event.type === 'retrying');
      expect(tries).toHaveLength(2);
      expect(tries.map((event) => [event.delivery, event.error?.code])).toEqual(
        [
          [1, 'SOURCE_UNAVAILABLE'],
          [2, 'SOURCE_UNAVAILABLE'],
        ],
      );
      expect(new Set(tries.map((event) => event.eventId)).size).toBe(2);
      expect(events.find((event) => event.type === 'succeeded')).toMatchObject({
        delivery: 3,
        outputs: [{ name: 'default', width: 50 }],
      });
      await waitFor(
        async () =>
          (await channel.checkQueue(topology.jobsQueue)).messageCount === 0
            ? true
            : undefined,
        5000,
        'the jobs queue to drain',
      );
      for (const tier of topology.jobRetryTiers)
        expect((await channel.checkQueue(tier.queue)).messageCount).toBe(0);
    });

    it('fails the job after the last try, with the reason and the number of tries, and parks its message', async () => {
      worker = await startWorker(withAllowlist('127.0.0.1/32'));
      const parkedBefore = (
        await channel.checkQueue(topology.jobsDeadLetterQueue)
      ).messageCount;
      const message = job({ source: { kind: 'url', url: `${origin}/down` } });
      await publisher.publish(MessageType.imageJob, message.jobId, message);
      const outcome = await outcomeOf(message.jobId);
      expect(outcome).toMatchObject({
        type: 'failed',
        delivery: 3,
        error: { code: 'SOURCE_UNAVAILABLE' },
      });
      expect(outcome.error?.message).toMatch(
        /^Gave up after 3 tries: could not fetch .*503/,
      );
      await waitFor(
        async () =>
          (await channel.checkQueue(topology.jobsDeadLetterQueue))
            .messageCount ===
          parkedBefore + 1
            ? true
            : undefined,
        5000,
        'the parked message',
      );
      const parked = await channel.get(topology.jobsDeadLetterQueue, {
        noAck: true,
      });
      expect(parked && parked.properties.messageId).toBe(message.jobId);
    });

    describe.each([
      ['succeeds', 'ok', 'succeeded'],
      ['fails', 'down', 'failed'],
    ])(
      'a job that %s on its last try while its outcome cannot be published',
      (_title, answer, outcomeType) => {
        afterEach(() => {
          beforeThirdAnswer = () => Promise.resolve();
        });

        it('is requeued, not parked, and its outcome is published once the broker takes it', async () => {
          worker = await startWorker(withAllowlist('127.0.0.1/32'));
          const parkedBefore = (
            await channel.checkQueue(topology.jobsDeadLetterQueue)
          ).messageCount;
          const message = job({
            source: {
              kind: 'url',
              url: `${origin}/twice-then-${answer}/${randomUUID()}`,
            },
          });
          // Watch the worker's own publishes (they go to the real broker) to
          // know when the outcome was refused.
          const refused: string[] = [];
          const workerPublisher = worker.get(MessagePublisher);
          const publish = workerPublisher.publish.bind(workerPublisher);
          jest
            .spyOn(workerPublisher, 'publish')
            .mockImplementation(async (type, id, payload, correlationId) => {
              try {
                await publish(type, id, payload, correlationId);
              } catch (error) {
                const event = payload as JobEventMessage;
                if (
                  type === MessageType.jobEvent &&
                  event.jobId === message.jobId
                )
                  refused.push(event.type);
                throw error;
              }
            });
          // Before the last try ends, job events become unroutable: the
          // outcome's publish is returned.
          beforeThirdAnswer = () =>
            channel.unbindQueue(
              topology.eventsQueue,
              topology.exchange,
              MessageType.jobEvent,
            );
          await publisher.publish(MessageType.imageJob, message.jobId, message);
          await waitFor(
            () => (refused.includes(outcomeType) ? true : undefined),
            15_000,
            'the outcome to be refused',
          );
          await channel.bindQueue(
            topology.eventsQueue,
            topology.exchange,
            MessageType.jobEvent,
          );

          const outcome = await outcomeOf(message.jobId);
          expect(outcome.type).toBe(outcomeType);
          // Delivered again after the refused outcome (3 deliveries before),
          // still as the third try.
          expect(outcome.delivery).toBeGreaterThan(3);
          if (outcomeType === 'failed')
            expect(outcome.error?.message).toMatch(/^Gave up after 3 tries: /);
          await waitFor(
            async () =>
              (await channel.checkQueue(topology.jobsQueue)).messageCount === 0
                ? true
                : undefined,
            10_000,
            'the jobs queue to drain',
          );
          for (const tier of topology.jobRetryTiers)
            expect((await channel.checkQueue(tier.queue)).messageCount).toBe(0);
          // Parked only once its outcome was out: a failed job's message, never
          // a succeeded one's.
          expect(
            (await channel.checkQueue(topology.jobsDeadLetterQueue))
              .messageCount,
          ).toBe(parkedBefore + (outcomeType === 'failed' ? 1 : 0));
          if (outcomeType === 'failed') {
            const parked = await channel.get(topology.jobsDeadLetterQueue, {
              noAck: true,
            });
            expect(parked && parked.properties.messageId).toBe(message.jobId);
          }
        });
      },
    );

    it('refuses a loopback source without the allowlist, and a redirect to the metadata address with it, before connecting', async () => {
      worker = await startWorker(withAllowlist(''));
      const seen = requests;
      const loopback = job({
        source: { kind: 'url', url: `${origin}/photo.png` },
      });
      await publisher.publish(MessageType.imageJob, loopback.jobId, loopback);
      const refused = await outcomeOf(loopback.jobId);
      expect(refused).toMatchObject({
        type: 'failed',
        error: { code: 'SOURCE_REFUSED' },
      });
      expect(refused.error?.message).toContain(
        '127.0.0.1 is a loopback address',
      );
      expect(requests).toBe(seen);
      await worker.close();

      worker = await startWorker(withAllowlist('127.0.0.1/32'));
      const redirected = job({
        source: { kind: 'url', url: `${origin}/to-metadata` },
      });
      await publisher.publish(
        MessageType.imageJob,
        redirected.jobId,
        redirected,
      );
      const metadata = await outcomeOf(redirected.jobId);
      expect(metadata).toMatchObject({
        type: 'failed',
        error: { code: 'SOURCE_REFUSED' },
      });
      expect(metadata.error?.message).toContain(
        '169.254.169.254 is a link-local address',
      );
      const missing = job({
        source: { kind: 'url', url: `${origin}/gone.png` },
      });
      await publisher.publish(MessageType.imageJob, missing.jobId, missing);
      const gone = await outcomeOf(missing.jobId);
      expect(gone).toMatchObject({
        type: 'failed',
        error: { code: 'SOURCE_UNAVAILABLE' },
      });
      expect(gone.error?.message).toContain('404');
      expect(
        (await channel.checkQueue(topology.jobsDeadLetterQueue)).messageCount,
      ).toBe(0);
    });
  });

  it('fails a job whose input is not an image, and parks nothing', async () => {
    await writeFile(
      join(folder.path, 'images', 'text.jpg'),
      'this is not a jpeg',
    );
    worker = await startWorker(config);
    const message = job({ source: { kind: 'images', path: 'text.jpg' } });
    await publisher.publish(MessageType.imageJob, message.jobId, message);
    // Its outcome alone: a job that fails within its first turn may publish
    // no started event before it (STARTED_EVENT_AFTER_MS).
    expect(await outcomeOf(message.jobId)).toMatchObject({
      type: 'failed',
      error: { code: 'UNSUPPORTED_FORMAT' },
    });
    expect(
      (await channel.checkQueue(topology.jobsDeadLetterQueue)).messageCount,
    ).toBe(0);
  });

  it('parks a malformed job message and fails the job it names', async () => {
    worker = await startWorker(config);
    const jobId = randomUUID();
    await publisher.publish(MessageType.imageJob, jobId, {
      jobId,
      attempt: 1,
      operations: [{ op: 'explode' }],
    });
    const [failed] = await eventsFor(jobId, 1);
    expect(failed).toMatchObject({
      type: 'failed',
      error: { code: 'INVALID_MESSAGE' },
    });
    expect(failed.error?.message).toContain('explode');
    await waitFor(
      async () =>
        (await channel.checkQueue(topology.jobsDeadLetterQueue))
          .messageCount === 1
          ? true
          : undefined,
      10_000,
      'the parked message',
    );
    const parked = await channel.get(topology.jobsDeadLetterQueue, {
      noAck: true,
    });
    expect(parked && parked.properties.messageId).toBe(jobId);
  });

  it('does not redo a redelivered job whose output an earlier delivery already stored', async () => {
    const message = job();
    // An earlier delivery stored its output, then died before acking: take the
    // message and drop the channel.
    const marker = await sharp({
      create: { width: 7, height: 5, channels: 3, background: '#ff0000' },
    })
      .png()
      .toBuffer();
    await storage.put(StorageKeys.output(message.jobId, 1, 'default'), marker);
    await publisher.publish(MessageType.imageJob, message.jobId, message);
    const crashingWorker = await connect(AMQP_URL);
    const crashing = await crashingWorker.createChannel();
    const taken = await waitFor(
      async () =>
        (await crashing.get(topology.jobsQueue, { noAck: false })) || undefined,
      5000,
      'the job',
    );
    expect(taken.properties.messageId).toBe(message.jobId);
    await crashingWorker.close();

    worker = await startWorker(config);
    const [started, outcome] = await eventsFor(message.jobId, 2);
    expect(started).toMatchObject({ type: 'started', delivery: 2 });
    // The stored output stands: 7x5, not the 50x25 a new run would make.
    expect(outcome).toMatchObject({
      type: 'succeeded',
      delivery: 2,
      outputs: [
        {
          name: 'default',
          width: 7,
          height: 5,
          format: 'png',
          sizeBytes: marker.length,
        },
      ],
    });
    expect(
      (
        await storage.read(StorageKeys.output(message.jobId, 1, 'default'))
      ).equals(marker),
    ).toBe(true);
  });

  it('stores the missing outputs of a redelivered job and keeps, and reports, the ones an earlier delivery stored', async () => {
    const message = job({
      operations: [],
      variants: [
        {
          name: 'small',
          operations: [{ op: 'resize', width: 20 }],
          output: { format: 'png' },
        },
        {
          name: 'grey',
          operations: [{ op: 'grayscale' }],
          output: { format: 'png' },
        },
      ],
    });
    // The earlier delivery stored one output (here with other bytes than a run
    // now makes), then died.
    const marker = await sharp({
      create: { width: 7, height: 5, channels: 3, background: '#00ff00' },
    })
      .png()
      .toBuffer();
    await storage.put(StorageKeys.output(message.jobId, 1, 'small'), marker);
    await publisher.publish(MessageType.imageJob, message.jobId, message);
    const crashingWorker = await connect(AMQP_URL);
    const crashing = await crashingWorker.createChannel();
    await waitFor(
      async () =>
        (await crashing.get(topology.jobsQueue, { noAck: false })) || undefined,
      5000,
      'the job',
    );
    await crashingWorker.close();

    worker = await startWorker(config);
    const outcome = await outcomeOf(message.jobId);
    expect(outcome).toMatchObject({
      type: 'succeeded',
      outputs: [
        {
          name: 'small',
          key: StorageKeys.output(message.jobId, 1, 'small'),
          format: 'png',
          width: 7,
          height: 5,
          sizeBytes: marker.length,
        },
        {
          name: 'grey',
          key: StorageKeys.output(message.jobId, 1, 'grey'),
          format: 'png',
          width: 200,
          height: 100,
        },
      ],
    });
    expect(
      (
        await storage.read(StorageKeys.output(message.jobId, 1, 'small'))
      ).equals(marker),
    ).toBe(true);
    expect(
      (await storage.read(StorageKeys.output(message.jobId, 1, 'grey'))).length,
    ).toBe(outcome.outputs![1].sizeBytes);
  });

  it("stores each attempt of a job under keys of its own, leaving an earlier attempt's output as it was", async () => {
    worker = await startWorker(config);
    const first = job();
    await publisher.publish(MessageType.imageJob, first.jobId, first);
    const firstOutcome = await outcomeOf(first.jobId);
    const firstBytes = await storage.read(firstOutcome.outputs![0].key);
    const second = {
      ...first,
      attempt: 2,
      operations: [{ op: 'resize' as const, width: 30 }],
    };
    await publisher.publish(MessageType.imageJob, second.jobId, second);
    const events = await eventsFor(second.jobId, 0, (seen) =>
      seen.some((event) => event.type === 'succeeded' && event.attempt === 2),
    );
    const outputs = events.find(
      (event) => event.type === 'succeeded' && event.attempt === 2,
    )!.outputs!;
    expect(outputs).toMatchObject([
      {
        name: 'default',
        key: StorageKeys.output(first.jobId, 2, 'default'),
        width: 30,
        height: 15,
      },
    ]);
    expect(outputs[0].key).not.toBe(firstOutcome.outputs![0].key);
    expect(
      (await storage.read(firstOutcome.outputs![0].key)).equals(firstBytes),
    ).toBe(true);
  });

  it('reconnects after the broker drops its connection, and consumes again', async () => {
    worker = await startWorker(config);
    expect(
      await dropBrokerConnections(`${config.AMQP_PREFIX} image-worker`),
    ).toBe(1);
    const message = job();
    await publisher.publish(MessageType.imageJob, message.jobId, message);
    const events = await eventsFor(message.jobId, 2);
    expect(events[1]).toMatchObject({ type: 'succeeded' });
  });

  it('is not ready while its consumer is gone (jobs queue deleted), and consumes again once the queue is back', async () => {
    worker = await startWorker(config);
    const readiness = async () =>
      (await fetch(`${await worker!.getUrl()}/health/ready`)).status;
    expect(await readiness()).toBe(200);
    await channel.deleteQueue(topology.jobsQueue);
    await waitFor(
      async () => ((await readiness()) === 503 ? true : undefined),
      10_000,
      'readiness to fail',
    );
    await topology.declare(broker.connection.current!);
    await waitFor(
      async () => ((await readiness()) === 200 ? true : undefined),
      20_000,
      'readiness to come back',
    );
    const message = job();
    await publisher.publish(MessageType.imageJob, message.jobId, message);
    const events = await eventsFor(message.jobId, 2);
    expect(events[1]).toMatchObject({ type: 'succeeded' });
  });

  it('on shutdown finishes the job in flight before closing', async () => {
    await writeFile(
      join(folder.path, 'images', 'big.jpg'),
      await makeImage(2400, 1800),
    );
    worker = await startWorker(config);
    const message = job({
      source: { kind: 'images', path: 'big.jpg' },
      operations: [{ op: 'blur', sigma: 30 }],
      output: { format: 'webp' },
    });
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

  it('on shutdown hands back at once the jobs it holds but has not started, and finishes the one it is processing', async () => {
    await writeFile(
      join(folder.path, 'images', 'big.jpg'),
      await makeImage(2400, 1800),
    );
    worker = await startWorker(
      loadConfig(WorkerConfig, {
        ...configEnv,
        WORKER_PREFETCH: '4',
        WORKER_CONCURRENCY: '1',
      }),
    );
    const messages = Array.from({ length: 4 }, () =>
      job({
        source: { kind: 'images', path: 'big.jpg' },
        operations: [{ op: 'blur', sigma: 30 }],
        output: { format: 'webp' },
      }),
    );
    for (const message of messages)
      await publisher.publish(MessageType.imageJob, message.jobId, message);
    const ids = new Set(messages.map((message) => message.jobId));
    const events: JobEventMessage[] = [];
    const collect = async () => {
      for (
        let message = await channel.get(topology.eventsQueue, { noAck: true });
        message;
        message = await channel.get(topology.eventsQueue, { noAck: true })
      ) {
        const event = JSON.parse(message.content.toString()) as JobEventMessage;
        if (ids.has(event.jobId)) events.push(event);
      }
    };
    await waitFor(
      async () => {
        await collect();
        return events.some((event) => event.type === 'started')
          ? true
          : undefined;
      },
      15_000,
      'the first job to start',
    );
    // All four are held (prefetch 4), one is processing.
    expect((await channel.checkQueue(topology.jobsQueue)).messageCount).toBe(0);
    await worker.close();
    worker = undefined;
    await collect();
    // The one processing when the worker was told to stop (on a slow machine,
    // the next may have started just before) finished; the rest were handed
    // back unstarted.
    const startedIds = events
      .filter((event) => event.type === 'started')
      .map((event) => event.jobId);
    expect(startedIds.length).toBeGreaterThanOrEqual(1);
    expect(startedIds.length).toBeLessThanOrEqual(2);
    expect(
      events
        .filter((event) => event.type !== 'started')
        .map((event) => [event.type, event.jobId]),
    ).toEqual(startedIds.map((id) => ['succeeded', id]));
    // Those not started are ready for another worker, with no try counted
    // against them and nothing parked.
    const notStarted = messages
      .map((message) => message.jobId)
      .filter((id) => !startedIds.includes(id));
    expect((await channel.checkQueue(topology.jobsQueue)).messageCount).toBe(
      notStarted.length,
    );
    for (const tier of topology.jobRetryTiers)
      expect((await channel.checkQueue(tier.queue)).messageCount).toBe(0);
    const handedBack: string[] = [];
    for (let i = 0; i < notStarted.length; i++) {
      const message = await channel.get(topology.jobsQueue, { noAck: true });
      // Handed back as a copy: no delivery is counted toward the queue's
      // limit (README, "Shutdown").
      if (message)
        expect(message.properties.headers?.['x-delivery-count'] ?? 0).toBe(0);
      if (message)
        handedBack.push(
          (JSON.parse(message.content.toString()) as ImageJobMessage).jobId,
        );
    }
    expect(new Set(handedBack)).toEqual(new Set(notStarted));
  });
});
