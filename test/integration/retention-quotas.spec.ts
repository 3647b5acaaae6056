import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { secondsUntilNextUtcDay } from '@pipeline/auth';
import {
  ApiKeysRepository,
  BOOTSTRAP_ADMIN_KEY_ID,
  EXPIRY_LOCK_KEY,
  JobsRepository,
} from '@pipeline/database';
import { ApiKeySelfView, CreatedApiKey, JobView } from '@pipeline/contracts';
import {
  AmqpConnection,
  DeadLetterReport,
  Topology,
} from '@pipeline/messaging';
import { loadConfig, WorkerConfig, WriterConfig } from '@pipeline/platform';
import { FilesystemBlobStorage, StorageKeys } from '@pipeline/storage';
import { connect } from 'amqplib';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Pool } from 'pg';
import { startWorker } from '../../apps/image-worker/src/worker.app';
import { startProducer } from '../../apps/producer/src/producer.app';
import { ExpirySweeper } from '../../apps/results-writer/src/expiry-sweeper.service';
import { startWriter } from '../../apps/results-writer/src/writer.app';
import { adminFetch, fetchAs } from '../support/api-keys';
import { AcceptedJob, readBody, readError } from '../support/http';
import { stringContaining } from '../support/matchers';
import { makeImage } from '../support/images';
import { producerTestConfig } from '../support/producer-config';
import { PrometheusText } from '../support/prometheus-text';
import {
  AMQP_URL,
  createTestDatabase,
  deleteTopology,
  makeTempDir,
  uniqueName,
  waitFor,
} from '../support/resources';

/**
 * Retention and per-key quotas on the real stack: a producer, a worker and a
 * results writer on the real broker and database, sharing one storage folder.
 * The writer's retention sweep runs one pass at a time (its timer is off); jobs
 * are made old by moving their finish time back.
 */
describe('Retention and quotas (producer, worker and writer on real RabbitMQ and PostgreSQL)', () => {
  const HOUR = 3600;
  let database: { url: string; drop: () => Promise<void> };
  let folder: { path: string; remove: () => Promise<void> };
  let producer: NestFastifyApplication;
  let worker: NestFastifyApplication;
  let writer: NestFastifyApplication;
  let sweeper: ExpirySweeper;
  let base: string;
  let writerBase: string;
  let pool: Pool;
  let topology: Topology;
  let storageDir: string;
  let photo: Buffer;

  beforeAll(async () => {
    database = await createTestDatabase();
    folder = await makeTempDir();
    storageDir = join(folder.path, 'storage');
    const imagesDir = join(folder.path, 'images');
    await mkdir(imagesDir, { recursive: true });
    photo = await makeImage(96, 64);
    await writeFile(join(imagesDir, 'photo.jpg'), photo);
    const prefix = uniqueName('retention');
    const shared = {
      AMQP_URL,
      AMQP_PREFIX: prefix,
      DATABASE_URL: database.url,
      STORAGE_DIR: storageDir,
      IMAGES_DIR: imagesDir,
      LOG_LEVEL: 'error',
      HOST: '127.0.0.1',
      PORT: '0',
    };
    producer = await startProducer(
      producerTestConfig({ ...shared, LOG_LEVEL: 'error' }),
    );
    base = await producer.getUrl();
    topology = producer.get(AmqpConnection).topology;
    worker = await startWorker(
      loadConfig(WorkerConfig, {
        ...shared,
        WORKER_ID: 'retention-worker',
        STARTED_EVENT_AFTER_MS: '0',
      }),
    );
    writer = await startWriter(
      loadConfig(WriterConfig, {
        ...shared,
        SWEEP_INTERVAL_S: '0',
        RETENTION_SWEEP_INTERVAL_S: '0',
        RETENTION_UPLOADS_S: String(HOUR),
        RETENTION_OUTPUTS_S: String(2 * HOUR),
        RETENTION_JOBS_S: String(24 * HOUR),
      }),
    );
    writerBase = await writer.getUrl();
    sweeper = writer.get(ExpirySweeper);
    pool = new Pool({ connectionString: database.url });
  });

  afterAll(async () => {
    await producer?.close();
    await worker?.close();
    await writer?.close();
    await pool?.end();
    if (topology) await deleteTopology(topology);
    await database.drop();
    await folder.remove();
  });

  async function createKey(limits: Record<string, number>): Promise<string> {
    const response = await adminFetch(`${base}/v1/keys`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        name: `quota-${randomUUID().slice(0, 8)}`,
        scopes: ['jobs:write', 'jobs:read'],
        ...limits,
      }),
    });
    expect(response.status).toBe(201);
    return (await readBody<CreatedApiKey>(response)).key;
  }

  function upload(
    as: (input: string, init?: RequestInit) => Promise<Response>,
    operations: unknown[] = [{ op: 'resize', width: 32 }],
  ): Promise<Response> {
    const form = new FormData();
    form.append('image', new Blob([photo]), 'photo.jpg');
    form.append('operations', JSON.stringify(operations));
    form.append('output', JSON.stringify({ format: 'png' }));
    return as(`${base}/v1/jobs`, { method: 'POST', body: form });
  }

  function submitJson(
    as: (input: string, init?: RequestInit) => Promise<Response>,
  ): Promise<Response> {
    return as(`${base}/v1/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        source: { path: 'photo.jpg' },
        operations: [{ op: 'grayscale' }],
      }),
    });
  }

  async function accepted(response: Promise<Response>): Promise<string> {
    const answer = await response;
    expect(answer.status).toBe(202);
    return (await readBody<AcceptedJob>(answer)).id;
  }

  /** The job once finished, as the API shows it. */
  async function finished(id: string, as = adminFetch) {
    return waitFor(
      async () => {
        const job = await readBody<JobView>(await as(`${base}/v1/jobs/${id}`));
        return job.status === 'succeeded' || job.status === 'failed'
          ? job
          : undefined;
      },
      30_000,
      `job ${id} to finish`,
    );
  }

  /** Moves the jobs' finish back, as if they had finished `seconds` ago. */
  async function finishedAgo(ids: string[], seconds: number): Promise<void> {
    const { rowCount } = await pool.query(
      'UPDATE jobs SET finished_at = now() - make_interval(secs => $2) WHERE id = ANY($1::uuid[]) AND finished_at IS NOT NULL',
      [ids, seconds],
    );
    expect(rowCount).toBe(ids.length);
  }

  const stored = (key: string) =>
    existsSync(join(storageDir, ...key.split('/')));
  const metrics = async () =>
    new PrometheusText(await (await fetch(`${writerBase}/metrics`)).text());

  it('answers 413 to a key at its stored-bytes quota, naming the quota and the figures, and /v1/keys/me shows its usage', async () => {
    const key = await createKey({ storedBytes: 1000 });
    const as = fetchAs(key);
    const id = await accepted(upload(as));
    const job = await finished(id, as);
    expect(job.status).toBe('succeeded');
    const storedBytes = photo.length + job.outputs[0].sizeBytes;
    expect(storedBytes).toBeGreaterThan(1000);

    const me = await readBody(await as(`${base}/v1/keys/me`));
    expect(me).toMatchObject({
      limits: { storedBytes: 1000, jobsPerDay: 100_000 },
      usage: { storedBytes, jobsToday: 1, jobsInFlight: 0 },
    });

    for (const refused of [await upload(as), await submitJson(as)]) {
      expect(refused.status).toBe(413);
      const { message } = await readError(refused);
      expect(message).toContain('stored-bytes quota');
      expect(message).toContain(`stores ${storedBytes} bytes`);
      expect(message).toContain('may store 1000');
    }
    expect(
      (await readBody<ApiKeySelfView>(await as(`${base}/v1/keys/me`))).usage,
    ).toEqual({ storedBytes, jobsToday: 1, jobsInFlight: 0 });
    // Nothing of the refused upload is left behind.
    expect(
      (
        await pool.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM jobs WHERE source->>'kind' = 'upload' AND api_key_id = (SELECT api_key_id FROM jobs WHERE id = $1)",
          [id],
        )
      ).rows[0].n,
    ).toBe(1);
  });

  it('answers 429 to a key past its jobs per day, with Retry-After to the next midnight UTC and the figures', async () => {
    const as = fetchAs(await createKey({ jobsPerDay: 2 }));
    await accepted(submitJson(as));
    await accepted(submitJson(as));
    const refused = await submitJson(as);
    expect(refused.status).toBe(429);
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(
      Math.abs(retryAfter - secondsUntilNextUtcDay(new Date())),
    ).toBeLessThanOrEqual(5);
    const { message } = await readError(refused);
    expect(message).toContain('jobs-per-day quota');
    expect(message).toContain('submitted 2 jobs today');
    expect(message).toContain('may submit 2 a day');
    const batch = await as(`${base}/v1/jobs/batch`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        jobs: [{ source: { path: 'photo.jpg' }, operations: [] }],
      }),
    });
    expect(batch.status).toBe(429);
    expect(
      (await readBody<ApiKeySelfView>(await as(`${base}/v1/keys/me`))).usage
        .jobsToday,
    ).toBe(2);
  });

  it("takes a job that was not accepted after all (its message could not be published) off its key's usage again", async () => {
    const keys = new ApiKeysRepository(pool);
    const jobs = new JobsRepository(pool);
    const before = await keys.usage(BOOTSTRAP_ADMIN_KEY_ID);
    const id = randomUUID();
    await jobs.insertQueued({
      id,
      apiKeyId: BOOTSTRAP_ADMIN_KEY_ID,
      source: { kind: 'upload', key: StorageKeys.upload(id) },
      operations: [],
      output: { format: 'png' },
      createdAt: new Date(),
      inputBytes: 1234,
    });
    expect(await keys.usage(BOOTSTRAP_ADMIN_KEY_ID)).toEqual({
      storedBytes: before.storedBytes + 1234,
      jobsToday: before.jobsToday + 1,
      jobsInFlight: before.jobsInFlight + 1,
    });
    await jobs.delete(id);
    expect(await keys.usage(BOOTSTRAP_ADMIN_KEY_ID)).toEqual(before);
  });

  it('removes expired outputs and uploads: results answer 410 with expiredAt, the files are gone, the bytes come off the key, and metrics count them', async () => {
    const as = fetchAs(await createKey({}));
    const id = await accepted(upload(as));
    const job = await finished(id, as);
    expect(job.status).toBe('succeeded');
    const outputKey = StorageKeys.output(id, 1, 'default');
    const uploadKey = StorageKeys.upload(id);
    expect(stored(outputKey) && stored(uploadKey)).toBe(true);
    const outputBytes = (await stat(join(storageDir, outputKey))).size;
    const young = await accepted(upload(as));
    await finished(young, as);
    const before = await metrics();

    await finishedAgo([id], 3 * HOUR);
    expect(await sweeper.sweep()).toBe(true);

    const view = await readBody<JobView>(await as(`${base}/v1/jobs/${id}`));
    expect(view.outputsExpiredAt).toEqual(expect.any(String));
    expect(view.inputExpiredAt).toEqual(expect.any(String));
    for (const path of [
      `/v1/jobs/${id}/result`,
      `/v1/jobs/${id}/result/default`,
    ]) {
      const gone = await as(`${base}${path}`);
      expect(gone.status).toBe(410);
      const body = await readError(gone);
      expect(body).toMatchObject({
        statusCode: 410,
        error: 'Gone',
        expiredAt: view.outputsExpiredAt,
      });
      expect(body.message).toContain(`expired at ${view.outputsExpiredAt}`);
    }
    expect(stored(outputKey)).toBe(false);
    expect(stored(uploadKey)).toBe(false);
    expect(existsSync(join(storageDir, 'outputs', `${id}.1`))).toBe(false);
    // The job that finished just now keeps everything.
    expect((await as(`${base}/v1/jobs/${young}/result`)).status).toBe(200);
    expect(stored(StorageKeys.upload(young))).toBe(true);
    const youngJob = await readBody<JobView>(
      await as(`${base}/v1/jobs/${young}`),
    );
    expect(
      (await readBody<ApiKeySelfView>(await as(`${base}/v1/keys/me`))).usage
        .storedBytes,
    ).toBe(photo.length + youngJob.outputs[0].sizeBytes);

    const after = await metrics();
    const delta = (name: string, labels: Record<string, string> = {}) =>
      (after.value(name, labels) ?? 0) - (before.value(name, labels) ?? 0);
    expect(delta('pipeline_expiry_blobs_total', { kind: 'output' })).toBe(1);
    expect(delta('pipeline_expiry_blobs_total', { kind: 'upload' })).toBe(1);
    expect(delta('pipeline_expiry_bytes_total', { kind: 'output' })).toBe(
      outputBytes,
    );
    expect(delta('pipeline_expiry_bytes_total', { kind: 'upload' })).toBe(
      photo.length,
    );

    // A second pass finds nothing more to do.
    const again = await metrics();
    await sweeper.sweep();
    expect(
      (await metrics()).value('pipeline_expiry_blobs_total', {
        kind: 'output',
      }),
    ).toBe(again.value('pipeline_expiry_blobs_total', { kind: 'output' }));
  });

  it('answers 409 to a retry of a failed job whose uploaded input expired', async () => {
    const id = await accepted(
      upload(adminFetch, [
        { op: 'crop', left: 0, top: 0, width: 5000, height: 5000 },
      ]),
    );
    expect((await finished(id)).status).toBe('failed');
    await finishedAgo([id], 2 * HOUR);
    await sweeper.sweep();
    expect(stored(StorageKeys.upload(id))).toBe(false);
    const retry = await adminFetch(`${base}/v1/jobs/${id}/retry`, {
      method: 'POST',
    });
    expect(retry.status).toBe(409);
    expect((await readError(retry)).message).toMatch(
      new RegExp(
        `^job ${id} cannot run again: its uploaded input expired at .* and was removed`,
      ),
    );
    expect(
      (await readBody<JobView>(await adminFetch(`${base}/v1/jobs/${id}`)))
        .status,
    ).toBe('failed');

    // Its message parked in the dead-letter queue can never run again either: a
    // replay drops it.
    const broker = await connect(AMQP_URL);
    try {
      const channel = await broker.createConfirmChannel();
      const body = {
        jobId: id,
        attempt: 1,
        source: { kind: 'upload', key: StorageKeys.upload(id) },
        operations: [],
        output: { format: 'png' },
        submittedAt: new Date().toISOString(),
      };
      await new Promise<void>((resolve, reject) =>
        channel.sendToQueue(
          topology.jobsDeadLetterQueue,
          Buffer.from(JSON.stringify(body)),
          { messageId: id, persistent: true },
          (error?: Error | null) => (error ? reject(error) : resolve()),
        ),
      );
    } finally {
      await broker.close();
    }
    const replay = await adminFetch(`${base}/v1/dead-letters/jobs/replay`, {
      method: 'POST',
    });
    expect(replay.status).toBe(200);
    const report = await readBody<DeadLetterReport>(replay);
    expect(report).toMatchObject({
      done: [],
      kept: [],
      dropped: [
        {
          messageId: id,
          reason: stringContaining('its uploaded input expired at'),
        },
      ],
    });
  });

  it('never removes the input of an accepted job that has not finished, however old', async () => {
    const storage = new FilesystemBlobStorage(storageDir);
    const jobs = new JobsRepository(pool);
    const ids = [randomUUID(), randomUUID()];
    for (const id of ids) {
      await storage.put(StorageKeys.upload(id), photo);
      await jobs.insertQueued({
        id,
        apiKeyId: BOOTSTRAP_ADMIN_KEY_ID,
        source: { kind: 'upload', key: StorageKeys.upload(id) },
        operations: [],
        output: { format: 'png' },
        createdAt: new Date(Date.now() - 30 * 24 * HOUR * 1000),
        inputBytes: photo.length,
      });
    }
    // One waits in the queue, a worker took the other long ago; both even carry
    // an old finish time: only the status says whether a job is done with its
    // input.
    await pool.query(
      `UPDATE jobs SET published_at = created_at, updated_at = created_at, finished_at = created_at WHERE id = ANY($1::uuid[])`,
      [ids],
    );
    await pool.query(
      `UPDATE jobs SET status = 'processing', started_at = created_at WHERE id = $1`,
      [ids[1]],
    );
    expect(await sweeper.sweep()).toBe(true);
    for (const id of ids) {
      expect(stored(StorageKeys.upload(id))).toBe(true);
      expect(await jobs.findById(id)).toMatchObject({
        inputExpiredAt: null,
        outputsExpiredAt: null,
      });
    }
    await pool.query('DELETE FROM jobs WHERE id = ANY($1::uuid[])', [ids]);
  });

  it('removes the rows of jobs finished before RETENTION_JOBS_S, with their files, and counts them', async () => {
    const old = await accepted(submitJson(adminFetch));
    const recent = await accepted(submitJson(adminFetch));
    await finished(old);
    await finished(recent);
    await finishedAgo([old], 25 * HOUR);
    const before =
      (await metrics()).value('pipeline_expiry_job_rows_total') ?? 0;
    expect(await sweeper.sweep()).toBe(true);
    expect((await adminFetch(`${base}/v1/jobs/${old}`)).status).toBe(404);
    expect(
      (
        await pool.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM job_events WHERE job_id = $1',
          [old],
        )
      ).rows[0].n,
    ).toBe(0);
    expect(stored(StorageKeys.output(old, 1, 'default'))).toBe(false);
    expect((await adminFetch(`${base}/v1/jobs/${recent}/result`)).status).toBe(
      200,
    );
    expect((await metrics()).value('pipeline_expiry_job_rows_total')).toBe(
      before + 1,
    );
  });

  it('does nothing while another writer holds the expiry lock', async () => {
    const id = await accepted(submitJson(adminFetch));
    await finished(id);
    await finishedAgo([id], 3 * HOUR);
    const holder = await pool.connect();
    try {
      await holder.query('SELECT pg_advisory_lock($1)', [EXPIRY_LOCK_KEY]);
      expect(await sweeper.sweep()).toBe(false);
      expect(stored(StorageKeys.output(id, 1, 'default'))).toBe(true);
    } finally {
      await holder.query('SELECT pg_advisory_unlock($1)', [EXPIRY_LOCK_KEY]);
      holder.release();
    }
    expect(await sweeper.sweep()).toBe(true);
    expect(stored(StorageKeys.output(id, 1, 'default'))).toBe(false);
  });
});
