import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { AmqpConnection, Topology } from '@pipeline/messaging';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startProducer } from '../../apps/producer/src/producer.app';
import { adminFetch, fetchAs } from '../support/api-keys';
import { makeImage } from '../support/images';
import { producerTestConfig } from '../support/producer-config';
import {
  createTestDatabase,
  deleteTopology,
  makeTempDir,
  uniqueName,
} from '../support/resources';

// What one batch request may cost the producer: its operations are counted
// before anything is validated, and many batches at once are each answered in
// full while other requests are still answered. How long those wait is
// measured by `npm run bench:batch-cost`; that the items are validated one per
// event-loop turn is TaskTurns' spec.

/**
 * A job of `own` operations and one output of `perOutput` each for `outputs`
 * outputs, every operation invalid.
 */
function invalidItem(own = 32, outputs = 8, perOutput = 32): unknown {
  const operations = (count: number) =>
    Array.from({ length: count }, () => ({ op: 'blur', sigma: -1 }));
  return {
    source: { path: 'photo.jpg' },
    operations: operations(own),
    outputs: Array.from({ length: outputs }, (_, index) => ({
      name: `v${index}`,
      operations: operations(perOutput),
    })),
  };
}

/**
 * The finding: 100 of the largest job there is (32 operations, then 8 outputs
 * of 32 each: 288), all invalid.
 */
const FINDING_BATCH = JSON.stringify({
  jobs: Array.from({ length: 100 }, () => invalidItem()),
});
const FINDING_OPERATIONS = 100 * 288;
describe('Producer: the cost of a batch (real RabbitMQ and PostgreSQL)', () => {
  let database: { url: string; drop: () => Promise<void> };
  let folder: { path: string; remove: () => Promise<void> };
  const apps: NestFastifyApplication[] = [];
  const topologies: Topology[] = [];
  let readerKey: string;

  async function producer(
    settings: Record<string, string> = {},
  ): Promise<string> {
    const app = await startProducer(
      producerTestConfig({
        LOG_LEVEL: 'error',
        DATABASE_URL: database.url,
        AMQP_PREFIX: uniqueName('batch-cost'),
        STORAGE_DIR: join(folder.path, 'storage'),
        IMAGES_DIR: join(folder.path, 'images'),
        ...settings,
      }),
    );
    apps.push(app);
    topologies.push(app.get(AmqpConnection).topology);
    return app.getUrl();
  }

  const postBatch = (base: string, body: string) =>
    adminFetch(`${base}/v1/jobs/batch`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });

  /**
   * A refused batch (`message`) or an answered one (`jobs`, each accepted or
   * refused).
   */
  type BatchBody = {
    message?: string[];
    jobs?: Array<{ error?: { statusCode: number } }>;
  };

  /**
   * Sends ten batches at once and, while they are in flight, asks for GET
   * /v1/keys/me again and again: the batches' answers, and how many GETs were
   * answered meanwhile.
   */
  async function batchesAgainstKeysMe(
    base: string,
    batch: string,
  ): Promise<{
    statuses: number[];
    bodies: BatchBody[];
    probes: number;
  }> {
    const asReader = fetchAs(readerKey);
    expect((await asReader(`${base}/v1/keys/me`)).status).toBe(200);
    let done = false;
    const batches = Promise.all(
      Array.from({ length: 10 }, () => postBatch(base, batch)),
    ).finally(() => (done = true));
    let probes = 0;
    while (!done) {
      const response = await asReader(`${base}/v1/keys/me`);
      expect(response.status).toBe(200);
      await response.json();
      probes++;
    }
    const answers = await batches;
    return {
      statuses: answers.map((answer) => answer.status),
      bodies: await Promise.all(
        answers.map((answer) => answer.json() as Promise<BatchBody>),
      ),
      probes,
    };
  }

  beforeAll(async () => {
    database = await createTestDatabase();
    folder = await makeTempDir();
    await mkdir(join(folder.path, 'images'), { recursive: true });
    await writeFile(
      join(folder.path, 'images', 'photo.jpg'),
      await makeImage(32, 32),
    );
    const base = await producer();
    const created = await adminFetch(`${base}/v1/keys`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'reader', scopes: ['jobs:read'] }),
    });
    expect(created.status).toBe(201);
    readerKey = ((await created.json()) as { key: string }).key;
  });

  afterAll(async () => {
    for (const app of apps) await app.close();
    for (const topology of topologies) await deleteTopology(topology);
    await database?.drop();
    await folder?.remove();
  });

  it('refuses a batch of more operations than MAX_BATCH_OPERATIONS (2000) with 400, naming the count and the limit', async () => {
    const base = await producer();
    const response = await postBatch(base, FINDING_BATCH);
    expect(response.status).toBe(400);
    expect(((await response.json()) as { message: string[] }).message).toEqual([
      `the batch holds ${FINDING_OPERATIONS} operations (its jobs' and their outputs' together), more than MAX_BATCH_OPERATIONS (2000) allows in one request`,
    ]);

    // Outputs count with their own operations: 7 jobs of 288 operations
    // are 2016.
    const justOver = await postBatch(
      base,
      JSON.stringify({ jobs: Array.from({ length: 7 }, () => invalidItem()) }),
    );
    expect(justOver.status).toBe(400);
    expect(((await justOver.json()) as { message: string[] }).message).toEqual([
      "the batch holds 2016 operations (its jobs' and their outputs' together), more than MAX_BATCH_OPERATIONS (2000) allows in one request",
    ]);
    // 6 of them (1728) are validated, each refused on its own.
    const within = await postBatch(
      base,
      JSON.stringify({ jobs: Array.from({ length: 6 }, () => invalidItem()) }),
    );
    expect(within.status).toBe(200);
    const { jobs } = (await within.json()) as {
      jobs: { error?: { statusCode: number } }[];
    };
    expect(jobs.map((job) => job.error?.statusCode)).toEqual([
      400, 400, 400, 400, 400, 400,
    ]);
  });

  it("answers ten of the finding's batches at once, refusing each, answering GET /v1/keys/me meanwhile", async () => {
    const base = await producer();
    const { statuses, bodies, probes } = await batchesAgainstKeysMe(
      base,
      FINDING_BATCH,
    );
    expect(statuses).toEqual(Array(10).fill(400));
    for (const body of bodies)
      expect(body.message).toEqual([
        expect.stringContaining(
          `the batch holds ${FINDING_OPERATIONS} operations`,
        ),
      ]);
    expect(probes).toBeGreaterThan(0);
  });

  it('validates the items of ten batches at once one by one, answering GET /v1/keys/me meanwhile', async () => {
    // 100 jobs of 64 operations each, within a limit raised for them:
    // validated, each refused on its own.
    const batch = JSON.stringify({
      jobs: Array.from({ length: 100 }, () => invalidItem(32, 1, 32)),
    });
    const base = await producer({ MAX_BATCH_OPERATIONS: String(100 * 64) });
    const { statuses, bodies, probes } = await batchesAgainstKeysMe(
      base,
      batch,
    );
    expect(statuses).toEqual(Array(10).fill(200));
    for (const body of bodies) {
      expect(body.jobs).toHaveLength(100);
      expect(body.jobs?.every((job) => job.error?.statusCode === 400)).toBe(
        true,
      );
    }
    expect(probes).toBeGreaterThan(1);
  });
});
